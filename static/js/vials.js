// The start form's vials (docs/clinical-rules.md §A10 vial_mismatch): a keyboard-wedge scanner types a vial's
// GS1 code and Enter into the scan field, or the tablet's camera reads it; the vial is checked against the day and
// listed, green with the hidden inputs the start sends, or red with the stop in a nurse's words. Typed vials go the
// same way.
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

  // --- The tablet's camera ----------------------------------------------------------------------------------
  // The browser's own BarcodeDetector where it reads Data Matrix; otherwise ZXing (vendored under
  // static/vendor/zxing by `make vendor-js`), loaded only when a nurse opens the camera.

  function loadScript(src) {
    if (window.ZXing) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = () => reject(new Error("the barcode reader could not be loaded"));
      document.head.appendChild(script);
    });
  }

  async function frameReader(readerSrc) {
    if ("BarcodeDetector" in window) {
      try {
        const formats = await window.BarcodeDetector.getSupportedFormats();
        if (formats.includes("data_matrix")) {
          const detector = new window.BarcodeDetector({ formats: ["data_matrix"] });
          return async (video) => {
            const found = await detector.detect(video);
            return found.length ? found[0].rawValue : null;
          };
        }
      } catch (error) {
        // No usable detector: ZXing below.
      }
    }
    await loadScript(readerSrc);
    const ZX = window.ZXing;
    const hints = new Map();
    hints.set(ZX.DecodeHintType.POSSIBLE_FORMATS, [ZX.BarcodeFormat.DATA_MATRIX]);
    hints.set(ZX.DecodeHintType.TRY_HARDER, true);
    const reader = new ZX.MultiFormatReader();
    reader.setHints(hints);
    const canvas = document.createElement("canvas");
    return async (video) => {
      if (!video.videoWidth) return null;
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d", { willReadFrequently: true }).drawImage(video, 0, 0);
      try {
        const source = new ZX.HTMLCanvasElementLuminanceSource(canvas);
        // FNC1 comes back as GS (ASCII 29), as a keyboard-wedge scanner sends it.
        return reader.decodeWithState(new ZX.BinaryBitmap(new ZX.HybridBinarizer(source))).getText();
      } catch (error) {
        return null; // no code in this frame
      }
    };
  }

  // A code is added once while it stays in view; the same code is taken as another vial only after it has been
  // out of the frame this long (vials of one lot without serials carry the same code).
  const SAME_CODE_AGAIN_AFTER_MS = 1500;

  async function openCamera(button) {
    const form = button.form;
    const view = form.querySelector("[data-vial-camera-view]");
    const video = view.querySelector("video");
    const status = view.querySelector("[data-camera-status]");
    view.hidden = false;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (error) {
      status.textContent = `The camera could not be opened (${error.name}): use the scanner or type the vial.`;
      return;
    }
    let closed = false;
    const close = () => {
      closed = true;
      stream.getTracks().forEach((track) => track.stop());
      video.srcObject = null;
      view.hidden = true;
      button.hidden = false;
    };
    view.querySelector("[data-vial-camera-close]").onclick = close;
    button.hidden = true;
    video.srcObject = stream;
    await video.play();
    let read;
    try {
      read = await frameReader(button.dataset.readerSrc);
    } catch (error) {
      status.textContent = `${error.message}: use the scanner or type the vial.`;
      close();
      view.hidden = false;
      return;
    }
    let lastCode = null;
    let lastSeen = 0;
    const tick = async () => {
      if (closed) return;
      if (!document.body.contains(video)) return close(); // the panel was replaced
      const code = await read(video).catch(() => null);
      const now = performance.now();
      if (code) {
        if (code !== lastCode || now - lastSeen > SAME_CODE_AGAIN_AFTER_MS) {
          status.textContent = "Vial read: see the list below. Hold the next vial's code in the frame.";
          check(form, { barcode: code });
        }
        lastCode = code;
        lastSeen = now;
      }
      window.setTimeout(tick, 150);
    };
    tick();
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
    if (target.matches("[data-vial-camera]")) {
      openCamera(target);
    } else if (target.matches("[data-vial-remove]")) {
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
