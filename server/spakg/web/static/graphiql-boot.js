// GraphiQL from files of this package (no CDN): the page's only script besides React and GraphiQL themselves.
(function () {
  var root = document.getElementById("graphiql");
  var fetcher = GraphiQL.createFetcher({ url: root.dataset.endpoint });
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: '{\n  concept(id: "Uveitis") {\n    label\n    definition\n    related { label target { id label } sources { quote } }\n  }\n}\n'
  }));
})();
