/* htmx error answers, in one place. An endpoint that refuses with its own fragment (the refusal
   inside, role="alert") is swapped like any answer (htmx-config in base.html). The app's generic
   error answer (errors/_error.html, sent with HX-Reswap: none), a 5xx and a lost connection are
   not swapped: their message is shown, with role="alert", right after the control the person
   used, and removed when that control sends again. */
(function () {
  "use strict";
  var GENERIC = "操作未完成，请稍后重试。";
  var OFFLINE = "网络连接中断，请检查网络后重试。";

  function anchorOf(elt) {
    // After the form, menu or status box the control belongs to, else after the control itself.
    return (elt.closest && elt.closest("form, nav, [data-htmx-errors]")) || elt;
  }

  function clear(elt) {
    var anchor = anchorOf(elt), next = anchor.nextElementSibling;
    if (next && next.hasAttribute("data-htmx-error")) next.remove();
  }

  function show(elt, text) {
    if (!elt || !elt.isConnected) elt = document.getElementById("main") || document.body;
    clear(elt);
    var box = document.createElement("p");
    box.className = "flash error";
    box.setAttribute("role", "alert");
    box.setAttribute("data-htmx-error", "");
    box.textContent = text;
    anchorOf(elt).insertAdjacentElement("afterend", box);
  }

  function messageOf(xhr) {
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
      var found = doc.querySelector("[data-error-message]");
      if (found && found.textContent.trim()) return found.textContent.trim();
    } catch (e) { /* not HTML */ }
    return GENERIC;
  }

  document.addEventListener("htmx:beforeRequest", function (e) { clear(e.detail.elt); });
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.status < 400) return;
    if (xhr.status < 500 && xhr.getResponseHeader("HX-Reswap") !== "none") return;
    e.detail.shouldSwap = false;
    show(e.detail.requestConfig ? e.detail.requestConfig.elt : e.detail.elt, messageOf(xhr));
  });
  document.addEventListener("htmx:sendError", function (e) { show(e.detail.elt, OFFLINE); });
})();
