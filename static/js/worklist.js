// The nurse worklist refreshes itself every 30 seconds, except while a nurse is entering a count: while an input of
// the worklist has focus, or a count or lab value has been typed or a bleeding grade chosen and not yet saved (a
// refused one stays until corrected). A static file rather than an htmx trigger filter ("every 30s [...]"): htmx
// evaluates a filter with Function(), which the Content-Security-Policy forbids (no 'unsafe-eval').
(function () {
  "use strict";

  var REFRESH_MS = 30000;

  function worklistBusy() {
    var list = document.getElementById("worklist");
    if (!list) return false;
    if (list.contains(document.activeElement) && document.activeElement.matches("input, select, textarea")) return true;
    return Array.prototype.some.call(
      list.querySelectorAll(
        "input[name=platelet_count], select[name=who_grade], form[data-testid=lab-check-form] input[name=value]"
      ),
      function (input) {
        return input.value.trim() !== "";
      }
    );
  }

  window.worklistBusy = worklistBusy;

  window.setInterval(function () {
    var list = document.getElementById("worklist");
    if (list && window.htmx && !worklistBusy()) window.htmx.trigger(list, "worklist-refresh");
  }, REFRESH_MS);
})();
