// The explorer's only script: search suggestions as you type, and the neighbourhood graph (with buttons that grow it
// from the keyboard). Every page works without it.
(function () {
  "use strict";

  // Suggestions: fill the <datalist> an input names, from /search.json, as the user types.
  document.querySelectorAll("input[data-suggest]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (!q) { return; }
      timer = setTimeout(function () {
        fetch(input.dataset.suggest + "?q=" + encodeURIComponent(q)).then(function (r) { return r.json(); })
          .then(function (found) {
            list.replaceChildren.apply(list, found.map(function (c) {
              var option = document.createElement("option");
              option.value = c.label;  // the name is what goes in the box: a student reads it, the server resolves it
              if (c.matched) { option.label = "“" + c.matched + "”"; }
              return option;
            }));
          }).catch(function () { /* suggestions are a convenience: the form still works */ });
      }, 120);
    });
  });

  // Printing shows every branch: the closed <details> are opened for the print and closed again after it.
  var opened = [];
  window.addEventListener("beforeprint", function () {
    opened = opened.concat(Array.prototype.filter.call(document.querySelectorAll("details:not([open])"),
                                                       function (d) { d.open = true; return true; }));
  });
  window.addEventListener("afterprint", function () { opened.forEach(function (d) { d.open = false; }); opened = []; });

  // The neighbourhood graph: the concept and its neighbours; selecting a node adds its own neighbours. A list of
  // buttons under it does the same from the keyboard (the canvas itself takes no focus).
  var box = document.getElementById("graph");
  if (!box || typeof cytoscape === "undefined") { return; }
  var cy = cytoscape({
    container: box,
    maxZoom: 1.4,
    minZoom: 0.3,
    style: [
      { selector: "node", style: { "label": "data(label)", "font-size": 11, "text-wrap": "wrap", "text-max-width": 110,
        "background-color": "#0a58a8", "color": "#1b1f24", "width": 14, "height": 14, "text-valign": "bottom" } },
      { selector: "node.center", style: { "background-color": "#b35c00", "width": 20, "height": 20, "font-weight": "bold" } },
      { selector: "edge", style: { "width": 1.5, "line-color": "#8c959f", "target-arrow-color": "#8c959f",
        "target-arrow-shape": "triangle", "curve-style": "bezier", "label": "data(label)", "font-size": 9,
        "color": "#4a5560", "text-rotation": "autorotate", "text-background-color": "#fcfdfe", "text-background-opacity": 1 } }
    ]
  });
  var loaded = {};
  var keys = document.getElementById("graph-keys");
  function graphUrl(id) { return "/concepts/" + encodeURIComponent(id) + "/graph.json"; }
  function listButtons() {  // a button for each node whose neighbours are not in the graph yet
    if (!keys) { return; }
    var list = keys.querySelector("ul");
    list.replaceChildren.apply(list, cy.nodes().filter(function (n) { return !loaded[graphUrl(n.id())]; })
      .sort(function (a, b) { return a.data("label").localeCompare(b.data("label")); })
      .map(function (n) {
        var item = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "link";
        button.textContent = "Add the neighbours of " + n.data("label");
        button.addEventListener("click", function () { expand(graphUrl(n.id()), false); });
        item.appendChild(button);
        return item;
      }));
    keys.hidden = list.children.length === 0;
  }
  function expand(url, center) {
    if (loaded[url]) { return; }
    loaded[url] = true;
    fetch(url).then(function (r) { return r.json(); }).then(function (g) {
      g.nodes.forEach(function (n) {
        if (cy.getElementById(n.id).empty()) { cy.add({ group: "nodes", data: { id: n.id, label: n.label } }); }
      });
      g.edges.forEach(function (e) {
        var id = e.source + "|" + e.label + "|" + e.target;
        if (cy.getElementById(id).empty()) { cy.add({ group: "edges", data: { id: id, source: e.source, target: e.target, label: e.label } }); }
      });
      if (center) { cy.getElementById(g.center).addClass("center"); }
      cy.layout({ name: "concentric", minNodeSpacing: 70, animate: false, padding: 30,
                  concentric: function (n) { return n.hasClass("center") ? 2 : 1; }, levelWidth: function () { return 1; } }).run();
      box.dataset.nodes = String(cy.nodes().length);
      listButtons();
    });
  }
  cy.on("tap", "node", function (evt) { expand(graphUrl(evt.target.id()), false); });
  cy.on("dbltap", "node", function (evt) { window.location = "/concepts/" + encodeURIComponent(evt.target.id()); });
  expand(box.dataset.src, true);
})();
