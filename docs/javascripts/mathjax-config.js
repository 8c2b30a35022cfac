// MathJax 3 settings for formulas that pymdownx.arithmatex wraps in
// <span class="arithmatex">\( ... \)</span> and <div class="arithmatex">.
// The site ships tex-svg.js, so nothing is loaded from any other host.
// "autoload" and "require" are removed because they fetch extensions at read
// time. "noundefined" is removed so that an unknown macro is an error
// (data-mjx-error), which the browser test looks for.
// Every page is a full page load (the theme's instant navigation is off), so
// MathJax's startup typesets each page and nothing needs to run it again.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    tags: "ams",
    packages: { "[-]": ["autoload", "require", "noundefined"] },
  },
  svg: {
    fontCache: "global",
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

