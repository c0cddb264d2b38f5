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

  // The neighbourhood graph, laid out in layers: broader concepts above the concept, the concepts one relation away
  // in rows under it, narrower ones and the neighbours of expanded concepts below; no edge label on the canvas
  // (the relation shows on the edge under the pointer, and in the filter). Twelve neighbours at first, "show more"
  // for the rest; a checkbox per relation hides its links. Selecting a node (or its button) adds its neighbours.
  var box = document.getElementById("graph");
  if (!box || typeof cytoscape === "undefined") { return; }
  var CAP = 12, SPACING = 140, ROW = 78;
  var cy = cytoscape({
    container: box,
    maxZoom: 1.4,
    minZoom: 0.3,
    style: [
      { selector: "node", style: { "label": "data(label)", "font-size": 11, "text-wrap": "wrap", "text-max-width": SPACING - 24,
        "background-color": "#0a58a8", "color": "#1b1f24", "width": 14, "height": 14, "text-valign": "bottom",
        "text-margin-y": 3, "text-background-color": "#fcfdfe", "text-background-opacity": 0.85, "text-background-padding": 1 } },
      { selector: "node.center", style: { "background-color": "#b35c00", "width": 20, "height": 20, "font-weight": "bold" } },
      { selector: "edge", style: { "width": 1.5, "line-color": "#8c959f", "target-arrow-color": "#8c959f",
        "target-arrow-shape": "triangle", "curve-style": "straight", "font-size": 10, "color": "#1b1f24",
        "text-background-color": "#fff2b3", "text-background-opacity": 1, "text-background-padding": 2 } },
      { selector: "edge.hover, edge:selected", style: { "label": "data(label)", "line-color": "#b35c00", "width": 2.5, "z-index": 10 } },
      { selector: ".filtered, .capped", style: { "display": "none" } }
    ]
  });
  box.spakg = cy;  // for the browser tests, which measure the layout
  var loaded = {}, shown = {}, centerId = null;
  var keys = document.getElementById("graph-keys"), more = document.getElementById("graph-more");
  var filter = document.getElementById("graph-filter");
  function graphUrl(id) { return "/concepts/" + encodeURIComponent(id) + "/graph.json"; }
  // shown by class, not by n.visible(): the style is brought up to date after a class changes, not at once
  function isShown(n) { return !n.hasClass("capped") && !n.hasClass("filtered"); }
  function visible() { return cy.nodes().filter(isShown); }

  function layout() {  // rows by distance from the concept: broader concepts above it, the rest below, wrapped
    var width = Math.max(box.clientWidth, 320), perRow = Math.max(2, Math.floor((width - 20) / SPACING));
    var center = cy.getElementById(centerId), rows = [], seen = {};
    var above = center.outgoers("edge[label = 'is a kind of']").filter(function (e) { return !e.hasClass("filtered"); })
      .targets().filter(isShown);
    seen[centerId] = true;
    above.forEach(function (n) { seen[n.id()] = true; });
    var frontier = [center], layers = [];
    while (frontier.length) {
      var next = [];
      frontier.forEach(function (n) {
        n.connectedEdges().filter(function (e) { return !e.hasClass("filtered"); }).connectedNodes().forEach(function (m) {
          if (!seen[m.id()] && isShown(m)) { seen[m.id()] = true; next.push(m); }
        });
      });
      if (next.length) { layers.push(next); }
      frontier = next;
    }
    function wrap(nodes) { for (var i = 0; i < nodes.length; i += perRow) { rows.push(nodes.slice(i, i + perRow)); } }
    wrap(above.toArray());
    var centerRow = rows.length;
    rows.push([center]);
    layers.forEach(wrap);
    rows.forEach(function (row, r) {
      var stagger = (r - centerRow) % 2 ? SPACING / 2 : 0;  // alternate rows offset: labels of the rows between never line up
      row.forEach(function (n, i) {
        n.position({ x: (i - (row.length - 1) / 2) * SPACING + (row.length > 1 ? stagger / 2 : 0), y: (r - centerRow) * ROW });
      });
    });
    // the box grows with the rows (to a limit), so that a crowded neighbourhood is not shrunk past reading
    var tall = Math.min(Math.max(rows.length * ROW + 70, 352), 960);
    if (box.clientHeight !== tall) { box.style.height = tall + "px"; cy.resize(); }
    cy.fit(visible(), 24);
    box.dataset.nodes = String(visible().length);
  }

  function applyFilter() {
    if (!filter) { return; }
    var off = {};
    filter.querySelectorAll("input[type=checkbox]").forEach(function (c) { off[c.value] = !c.checked; });
    cy.edges().forEach(function (e) { e.toggleClass("filtered", !!off[e.data("label")]); });
    cy.nodes().forEach(function (n) {  // a node stays while some shown link reaches it (the concept always does)
      n.toggleClass("filtered", n.id() !== centerId && n.connectedEdges().filter(function (e) { return !e.hasClass("filtered"); }).empty());
    });
  }

  function listFilter() {
    if (!filter) { return; }
    var counts = {};
    cy.edges().forEach(function (e) { counts[e.data("label")] = (counts[e.data("label")] || 0) + 1; });
    var was = {};
    filter.querySelectorAll("input[type=checkbox]").forEach(function (c) { was[c.value] = c.checked; });
    var list = filter.querySelector("div");
    list.replaceChildren.apply(list, Object.keys(counts).sort().map(function (label) {
      var item = document.createElement("label");
      item.className = "check";
      var input = document.createElement("input");
      input.type = "checkbox";
      input.value = label;
      input.checked = was[label] !== false;
      input.addEventListener("change", function () { applyFilter(); layout(); listButtons(); });
      item.appendChild(input);
      item.appendChild(document.createTextNode(" " + label + " (" + counts[label] + ")"));
      return item;
    }));
    filter.hidden = Object.keys(counts).length < 2;
  }

  function listButtons() {  // a button for each shown node whose neighbours are not in the graph yet
    if (!keys) { return; }
    var list = keys.querySelector("ul");
    list.replaceChildren.apply(list, visible().filter(function (n) { return !loaded[graphUrl(n.id())]; })
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
    if (more) {
      var capped = cy.nodes(".capped").length;
      more.hidden = capped === 0;
      more.querySelector("button").textContent = "Show " + Math.min(CAP, capped) + " more of " + capped + " hidden neighbours";
    }
  }

  function expand(url, center) {
    if (loaded[url]) { return; }
    loaded[url] = true;
    fetch(url).then(function (r) { return r.json(); }).then(function (g) {
      var added = 0;
      g.nodes.forEach(function (n) {
        if (cy.getElementById(n.id).empty()) {
          var node = cy.add({ group: "nodes", data: { id: n.id, label: n.label } });
          if (n.id !== g.center && ++added > CAP) { node.addClass("capped"); }
        }
      });
      g.edges.forEach(function (e) {
        var id = e.source + "|" + e.label + "|" + e.target;
        if (cy.getElementById(id).empty()) { cy.add({ group: "edges", data: { id: id, source: e.source, target: e.target, label: e.label } }); }
      });
      if (center) { centerId = g.center; cy.getElementById(g.center).addClass("center"); }
      listFilter();
      applyFilter();
      layout();
      listButtons();
    });
  }
  if (more) {
    more.querySelector("button").addEventListener("click", function () {
      cy.nodes(".capped").slice(0, CAP).removeClass("capped");
      layout();
      listButtons();
    });
  }
  cy.on("mouseover", "edge", function (evt) { evt.target.addClass("hover"); });
  cy.on("mouseout", "edge", function (evt) { evt.target.removeClass("hover"); });
  cy.on("tap", "node", function (evt) { expand(graphUrl(evt.target.id()), false); });
  cy.on("dbltap", "node", function (evt) { window.location = "/concepts/" + encodeURIComponent(evt.target.id()); });
  expand(box.dataset.src, true);
})();
