// dlcourse web book: a display formula wider than the page scrolls sideways; give each such formula a tab stop
// so that keyboard users can scroll it too (axe-core: scrollable-region-focusable).
function makeWideFormulasFocusable() {
  document.querySelectorAll('mjx-container[display="true"]').forEach((formula) => {
    if (formula.scrollWidth > formula.clientWidth) {
      formula.tabIndex = 0;
    }
  });
}

window.addEventListener("load", () => {
  if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
    window.MathJax.startup.promise.then(makeWideFormulasFocusable);
  }
  window.addEventListener("resize", makeWideFormulasFocusable);
});
