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
