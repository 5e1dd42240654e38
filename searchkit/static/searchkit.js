// searchkit serve: keys over the server-rendered page (it works without this file).
// "/" focuses the search box; j / k move through the hits; Enter opens the current one.
(function () {
  "use strict";
  var current = -1;
  function hits() { return document.querySelectorAll("li.hit"); }
  function select(index) {
    var all = hits();
    if (!all.length) { return; }
    index = Math.max(0, Math.min(all.length - 1, index));
    if (current >= 0 && all[current]) { all[current].classList.remove("current"); }
    current = index;
    all[current].classList.add("current");
    all[current].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable);
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (typing) {
      if (event.key === "Escape") { target.blur(); }
      return;
    }
    if (event.key === "/") {
      event.preventDefault();
      var box = document.getElementById("q");
      box.focus();
      box.select();
    } else if (event.key === "j") {
      select(current + 1);
    } else if (event.key === "k") {
      select(current - 1);
    } else if (event.key === "Enter" && current >= 0) {
      var link = hits()[current].querySelector("a.open");
      if (link) { window.location.href = link.href; }
    }
  });
}());
