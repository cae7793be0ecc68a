/* Maillage – small progressive enhancements; every page works without them. */
(function () {
  "use strict";

  // Confirmation before destructive POST buttons (no inline script: CSP forbids it).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  // Import progress bar: polls the run's state until it is finished, then reloads for the summary.
  function pollImport(section) {
    var url = section.getAttribute("data-import-state");
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (state) {
        var bar = section.querySelector("progress");
        var text = section.querySelector("[data-field=progress-text]");
        if (state.progress && bar) {
          bar.max = state.progress.total || 1; bar.value = state.progress.done;
          if (text) { text.textContent = state.progress.done.toLocaleString("fr-FR") + " / " + state.progress.total.toLocaleString("fr-FR") + " lignes"; }
        }
        if (state.status === "terminé" || state.status === "échoué") { window.location.reload(); return; }
        window.setTimeout(function () { pollImport(section); }, 1000);
      })
      .catch(function () { window.setTimeout(function () { pollImport(section); }, 3000); });
  }
  document.querySelectorAll("[data-import-state]").forEach(function (section) {
    var status = section.getAttribute("data-status");
    if (status === "en_attente" || status === "en_cours") { pollImport(section); }
  });

  // Structure autocomplete: <input data-autocomplete="/structures/autocomplete" data-target="id-of-hidden-input">
  document.querySelectorAll("input[data-autocomplete]").forEach(function (input) {
    var wrapper = document.createElement("div");
    wrapper.className = "autocomplete";
    input.parentNode.insertBefore(wrapper, input);
    wrapper.appendChild(input);
    var list = document.createElement("ul");
    list.className = "autocomplete-list"; list.id = input.id + "-suggestions"; list.setAttribute("role", "listbox"); list.hidden = true;
    wrapper.appendChild(list);
    input.setAttribute("role", "combobox"); input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id); input.setAttribute("aria-expanded", "false");
    var hidden = document.getElementById(input.getAttribute("data-target"));
    var timer = null, active = -1, items = [];

    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1; }
    function choose(item) {
      input.value = item.label; if (hidden) { hidden.value = item.id; }
      close(); input.dispatchEvent(new CustomEvent("structure-selected", { detail: item, bubbles: true }));
    }
    function render() {
      list.innerHTML = "";
      items.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = list.id + "-" + i; li.setAttribute("role", "option");
        li.setAttribute("aria-selected", i === active ? "true" : "false");
        li.textContent = item.label;
        li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(item); });
        list.appendChild(li);
      });
      list.hidden = items.length === 0; input.setAttribute("aria-expanded", items.length ? "true" : "false");
      if (active >= 0) { input.setAttribute("aria-activedescendant", list.id + "-" + active); }
    }
    input.addEventListener("input", function () {
      if (hidden) { hidden.value = ""; }
      window.clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < 2) { items = []; render(); return; }
      timer = window.setTimeout(function () {
        fetch(input.getAttribute("data-autocomplete") + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (data) { items = data; active = -1; render(); });
      }, 150);
    });
    input.addEventListener("keydown", function (e) {
      if (list.hidden) { return; }
      if (e.key === "ArrowDown") { active = Math.min(active + 1, items.length - 1); render(); e.preventDefault(); }
      else if (e.key === "ArrowUp") { active = Math.max(active - 1, 0); render(); e.preventDefault(); }
      else if (e.key === "Enter" && active >= 0) { choose(items[active]); e.preventDefault(); }
      else if (e.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { window.setTimeout(close, 150); });
  });
})();
