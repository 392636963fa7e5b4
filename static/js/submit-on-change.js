// A <select data-submit-on-change> sends its form as soon as a choice is made (the course picker of the response
// page). A static file: the Content-Security-Policy allows no inline event handler (onchange="...").
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-submit-on-change") && target.form) {
      target.form.requestSubmit ? target.form.requestSubmit() : target.form.submit();
    }
  });
})();
