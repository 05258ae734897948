// Draws the book's plotly figures (see shoplog.publish.plots.BookRenderer): each figure's
// JSON sits beside its div, and is drawn when the reader scrolls near it, so a page with
// many figures is ready at once; printing draws them all first.
(function () {
  "use strict";
  // On a phone: the title wrapped to the width, the legend under the plot, no toolbar
  // (it would sit over the title), narrower margins.
  function narrow(layout, config, width) {
    var title = layout.title || {};
    if (typeof title === "string") title = { text: title };
    var perLine = Math.max(20, Math.floor(width / 8.5));
    var words = String(title.text || "").split(" "), lines = [], line = "";
    words.forEach(function (w) {
      if (line && (line + " " + w).length > perLine) { lines.push(line); line = w; }
      else { line = line ? line + " " + w : w; }
    });
    if (line) lines.push(line);
    title.text = lines.join("<br>");
    title.font = Object.assign({}, title.font, { size: 14 });
    layout.title = title;
    var margin = Object.assign({ l: 70, r: 40, t: 60, b: 60 }, layout.margin);
    margin.t = Math.max(margin.t, 30 + 20 * lines.length);
    margin.l = Math.min(margin.l, 50);
    margin.r = 10;
    layout.margin = margin;
    layout.legend = Object.assign({}, layout.legend,
      { orientation: "h", x: 0, xanchor: "left", yref: "container", y: 0.01,
        yanchor: "bottom" });
    if (margin.b < 120) margin.b = 120;
    layout.font = Object.assign({}, layout.font, { size: 11 });
    config.displayModeBar = false;
  }
  function draw(div) {
    if (div.dataset.drawn || typeof Plotly === "undefined") return;
    var data = document.querySelector('script.plotly-figure-data[data-for="' + div.id + '"]');
    if (!data) return;
    div.dataset.drawn = "1";
    var spec = JSON.parse(data.textContent);
    var config = JSON.parse(div.dataset.config || "{}");
    var width = div.getBoundingClientRect().width;
    if (width && width < 600) narrow(spec.layout, config, width);
    Plotly.newPlot(div, spec.data, spec.layout, config);
  }
  function start() {
    var divs = Array.prototype.slice.call(document.querySelectorAll(".plotly-graph-div"));
    if (!divs.length) return;
    if (!("IntersectionObserver" in window)) { divs.forEach(draw); return; }
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { draw(e.target); seen.unobserve(e.target); }
      });
    }, { rootMargin: "600px 0px" });
    divs.forEach(function (d) { seen.observe(d); });
    window.addEventListener("beforeprint", function () { divs.forEach(draw); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
