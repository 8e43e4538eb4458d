// Keyboard triage for the operator page. No framework: the page works without it, this only
// maps keys to the links and buttons already there.
(function () {
  "use strict";
  function typing(e) {
    const t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  function click(id) { const el = document.getElementById(id); if (el) { el.click(); return true; } return false; }
  function go(id) {
    const a = document.getElementById(id);
    if (a && !a.classList.contains("disabled") && a.getAttribute("href") !== "#") { window.location = a.href; }
  }

  // Accept-region asks first: it silences the device for that area.
  document.addEventListener("click", function (e) {
    const btn = e.target.closest && e.target.closest("button[data-confirm]");
    if (btn && !window.confirm(btn.dataset.confirm)) { e.preventDefault(); }
  });

  function toggle(checkboxId, cls) {
    const box = document.getElementById(checkboxId);
    const wrap = document.getElementById("frame-wrap");
    if (!box || !wrap) { return; }
    const apply = function () { wrap.classList.toggle(cls, !box.checked); };
    box.addEventListener("change", apply);
    apply();
    return function () { box.checked = !box.checked; apply(); };
  }
  const flipHeat = toggle("toggle-heat", "no-heat");
  const flipBoxes = toggle("toggle-boxes", "no-boxes");

  // Times: the page carries UTC; show the operator's local time, keep UTC on hover (title).
  document.querySelectorAll("time[data-local]").forEach(function (t) {
    const d = new Date(t.getAttribute("datetime"));
    if (isNaN(d.getTime())) { return; }
    const pad = function (n) { return String(n).padStart(2, "0"); };
    t.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    t.title = t.title + " (UTC)";
  });

  // Now vs the last clean view: side by side, or one picture with a slider (the default on phones).
  const pair = document.getElementById("compare-pair");
  const slider = document.getElementById("compare-slider");
  const mode = document.getElementById("compare-mode");
  if (pair && slider && mode && pair.querySelector("figure.now")) {
    const setMode = function (sliding) {
      pair.classList.toggle("slider", sliding);
      slider.hidden = !sliding;
      mode.textContent = sliding ? "side by side" : "slider";
    };
    slider.addEventListener("input", function () { pair.style.setProperty("--cut", slider.value + "%"); });
    mode.hidden = false;
    mode.addEventListener("click", function () { setMode(!pair.classList.contains("slider")); });
    setMode(window.matchMedia("(max-width: 700px)").matches);
  }

  // Accept region: the first press shows the event box as an editable proposal on the frame (drag it,
  // drag its corners, or draw a new one); the second press accepts what is drawn.
  const regionEditor = (function () {
    const wrap = document.getElementById("frame-wrap");
    const svg = document.getElementById("overlay");
    const layer = document.getElementById("region-layer");
    const rect = document.getElementById("region-rect");
    const input = document.getElementById("region-polygon");
    const btn = document.getElementById("btn-accept");
    const cancel = document.getElementById("btn-accept-cancel");
    const hint = document.getElementById("region-hint");
    if (!wrap || !svg || !layer || !rect || !input || !btn) { return null; }
    const fw = Number(svg.dataset.fw), fh = Number(svg.dataset.fh);
    const eb = document.getElementById("event-box");
    const start = eb ? eb.dataset.box.split(",").map(Number) : [fw * 0.3, fh * 0.3, fw * 0.7, fh * 0.7];
    let box = start.slice();
    let editing = false;
    let drag = null;
    const handles = Array.from(layer.querySelectorAll(".handle"));
    btn.removeAttribute("data-confirm");
    function clamp(v, hi) { return Math.max(0, Math.min(hi, v)); }
    function draw() {
      const x1 = Math.min(box[0], box[2]), y1 = Math.min(box[1], box[3]);
      const x2 = Math.max(box[0], box[2]), y2 = Math.max(box[1], box[3]);
      rect.setAttribute("x", x1); rect.setAttribute("y", y1);
      rect.setAttribute("width", x2 - x1); rect.setAttribute("height", y2 - y1);
      const at = { nw: [x1, y1], ne: [x2, y1], se: [x2, y2], sw: [x1, y2] };
      handles.forEach(function (h) { const p = at[h.dataset.corner]; h.setAttribute("cx", p[0]); h.setAttribute("cy", p[1]); });
      const r = function (v) { return Math.round(v * 10) / 10; };
      input.value = JSON.stringify([[r(x1), r(y1)], [r(x2), r(y1)], [r(x2), r(y2)], [r(x1), r(y2)]]);
    }
    function point(e) {
      const b = svg.getBoundingClientRect();
      return [clamp((e.clientX - b.left) / b.width * fw, fw), clamp((e.clientY - b.top) / b.height * fh, fh)];
    }
    svg.addEventListener("pointerdown", function (e) {
      if (!editing) { return; }
      e.preventDefault();
      const p = point(e);
      const corner = e.target.dataset && e.target.dataset.corner;
      const x1 = Math.min(box[0], box[2]), y1 = Math.min(box[1], box[3]);
      const x2 = Math.max(box[0], box[2]), y2 = Math.max(box[1], box[3]);
      box = [x1, y1, x2, y2];
      if (corner) {
        drag = { kind: "corner", ix: corner.indexOf("w") >= 0 ? 0 : 2, iy: corner.indexOf("n") >= 0 ? 1 : 3 };
      } else if (e.target === rect) {
        drag = { kind: "move", from: p, orig: box.slice() };
      } else {
        box = [p[0], p[1], p[0], p[1]];
        drag = { kind: "corner", ix: 2, iy: 3 };
      }
      svg.setPointerCapture(e.pointerId);
      draw();
    });
    svg.addEventListener("pointermove", function (e) {
      if (!drag) { return; }
      const p = point(e);
      if (drag.kind === "corner") {
        box[drag.ix] = p[0]; box[drag.iy] = p[1];
      } else {
        const w = drag.orig[2] - drag.orig[0], h = drag.orig[3] - drag.orig[1];
        const x = clamp(drag.orig[0] + p[0] - drag.from[0], fw - w), y = clamp(drag.orig[1] + p[1] - drag.from[1], fh - h);
        box = [x, y, x + w, y + h];
      }
      draw();
    });
    const stop = function () { drag = null; };
    svg.addEventListener("pointerup", stop);
    svg.addEventListener("pointercancel", stop);
    function setEditing(on) {
      editing = on;
      wrap.classList.toggle("editing", on);
      if (hint) { hint.hidden = !on; }
      if (cancel) { cancel.hidden = !on; }
      btn.lastChild.textContent = on ? " Accept the drawn region" : " Accept region…";
      if (on) { box = start.slice(); draw(); wrap.scrollIntoView({ block: "nearest" }); } else { input.value = ""; }
    }
    btn.addEventListener("click", function (e) { if (!editing) { e.preventDefault(); setEditing(true); } });
    if (cancel) { cancel.addEventListener("click", function () { setEditing(false); }); }
    return { cancel: function () { if (editing) { setEditing(false); return true; } return false; } };
  })();

  // Queue: rows are links; j/k move a selection, Enter opens it.
  const rows = Array.from(document.querySelectorAll("tr.alert-row"));
  let sel = -1;
  rows.forEach(function (row) {
    row.addEventListener("click", function (e) { if (!e.target.closest("a")) { window.location = row.dataset.href; } });
  });
  function select(i) {
    if (!rows.length) { return; }
    sel = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, k) { r.classList.toggle("selected", k === sel); });
    rows[sel].scrollIntoView({ block: "nearest" });
  }

  // The open queue reloads itself so new alerts appear, unless the operator is moving through it.
  const head = document.getElementById("queue-head");
  const every = head ? Number(head.dataset.autorefreshS || 0) : 0;
  if (every > 0) {
    window.setInterval(function () {
      if (document.visibilityState === "visible" && sel < 0) { window.location.reload(); }
    }, every * 1000);
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === "Escape" && regionEditor && regionEditor.cancel()) { e.preventDefault(); return; }
    if (typing(e)) {
      if (e.key === "Escape") { e.target.blur(); }
      // r, then arrow keys to pick a reason, then Enter rejects.
      if (e.key === "Enter" && e.target.id === "reject-reason" && e.target.value) {
        e.preventDefault();
        e.target.form.requestSubmit(document.getElementById("btn-reject"));
      }
      return;
    }
    const onEvent = !!document.getElementById("actions") || !!document.getElementById("frame-wrap");
    let handled = true;
    switch (e.key) {
      case "c": handled = click("btn-confirm"); break;
      case "x": handled = click("btn-cleaned"); break;
      case "a": handled = click("btn-accept"); break;
      case "r": {
        const reason = document.getElementById("reject-reason");
        if (reason) { reason.focus(); } else { handled = false; }
        break;
      }
      case "h": if (flipHeat) { flipHeat(); } else { handled = false; } break;
      case "b": if (flipBoxes) { flipBoxes(); } else { handled = false; } break;
      case "j": if (onEvent) { go("next-link"); } else { select(sel + 1); } break;
      case "k": if (onEvent) { go("prev-link"); } else { select(sel - 1); } break;
      case "Enter": if (!onEvent && sel >= 0) { window.location = rows[sel].dataset.href; } else { handled = false; } break;
      case "u": window.location = "/queue"; break;
      default: handled = false;
    }
    if (handled) { e.preventDefault(); }
  });
})();
