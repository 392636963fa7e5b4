// The start form's vials (docs/clinical-rules.md §A10 vial_mismatch): a keyboard-wedge scanner types a vial's
// GS1 code and Enter into the scan field; the vial is checked against the day and listed, green with the hidden
// inputs the start sends, or red with the stop in a nurse's words. Typed vials go the same way.
(function () {
  "use strict";

  function check(form, fields) {
    const list = form.querySelector("[data-vial-list]");
    const body = new FormData();
    body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    Object.entries(fields).forEach(([name, value]) => body.append(name, value));
    return fetch(list.dataset.checkUrl, { method: "POST", body: body, credentials: "same-origin" })
      .then((response) => response.text())
      .then((html) => {
        list.insertAdjacentHTML("beforeend", html);
      });
  }

  document.addEventListener("keydown", (event) => {
    const input = event.target;
    if (event.key !== "Enter" || !input.matches || !input.matches("[data-vial-scan]")) return;
    event.preventDefault(); // Enter ends a scan; it never submits the start
    const code = input.value;
    input.value = "";
    if (code.trim()) check(input.form, { barcode: code });
  });

  document.addEventListener("click", (event) => {
    const target = event.target;
    if (!target.matches) return;
    if (target.matches("[data-vial-remove]")) {
      target.closest("li").remove();
    } else if (target.matches("[data-vial-add]")) {
      const box = target.closest("[data-vial-typed]");
      const value = (name) => box.querySelector(`[data-name=${name}]`).value;
      check(target.form, {
        vial_product: value("vial_product"),
        vial_size_g: value("vial_size_g"),
        vial_lot: value("vial_lot"),
        vial_expiry: value("vial_expiry"),
      }).then(() => {
        box.querySelector("[data-name=vial_lot]").value = "";
      });
    }
  });
})();
