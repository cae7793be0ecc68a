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
        // A finished run shows its summary; a run whose worker died shows "Relancer".
        if (state.status === "terminé" || state.status === "échoué" || state.status === "refusé" ||
            (state.can_relaunch && section.getAttribute("data-can-relaunch") !== "true")) {
          window.location.reload(); return;
        }
        window.setTimeout(function () { pollImport(section); }, 1000);
      })
      .catch(function () { window.setTimeout(function () { pollImport(section); }, 3000); });
  }
  document.querySelectorAll("[data-import-state]").forEach(function (section) {
    var status = section.getAttribute("data-status");
    if (status === "en_attente" || status === "en_cours") { pollImport(section); }
  });

  // "Copier l'adresse": <button data-copy="id-of-input">; falls back to selecting the text.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    var status = document.querySelector("[data-copy-status='" + button.getAttribute("data-copy") + "']");
    function done(message) { if (status) { status.textContent = message; } }
    button.addEventListener("click", function () {
      input.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(function () { done("Adresse copiée."); },
          function () { done("Copiez l'adresse sélectionnée (Ctrl+C)."); });
      } else {
        done(document.execCommand && document.execCommand("copy") ? "Adresse copiée." : "Copiez l'adresse sélectionnée (Ctrl+C).");
      }
    });
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

  // --- Pipeline board (ui-board) ------------------------------------------------------------------
  // Cards move by drag and drop or by their "Déplacer" menu (a <details> of submit buttons, one per
  // stage the card can go to), both sent with fetch; the answer carries the card as the server renders
  // it, put in place of the old one, and the live region says which card moved where. Without
  // JavaScript the menu's buttons post the form and the page reloads.
  var board = document.querySelector("[data-board]");
  if (board) { initBoard(board); }

  function initBoard(board) {
    var statusBox = document.getElementById("board-status");
    var dialog = document.getElementById("loss-dialog");
    var lossForm = dialog ? dialog.querySelector("[data-loss-form]") : null;
    var csrf = document.querySelector('meta[name="csrf-token"]');
    var NEEDS_REASON = ["perdue", "abandonnee"];
    var dragged = null, pendingCard = null;

    function say(message, isError, link) {
      if (!statusBox) { return; }
      statusBox.textContent = message;
      statusBox.className = "board-status flash " + (isError ? "flash-error" : "flash-success");
      if (link) {
        var a = document.createElement("a");
        a.href = link.href; a.textContent = link.label;
        statusBox.appendChild(document.createTextNode(" ")); statusBox.appendChild(a);
      }
    }

    function cardName(card) {
      var title = card.querySelector("h3").textContent.trim();
      var structure = card.querySelector("[data-structure]");
      return "« " + title + " »" + (structure ? " (" + structure.firstChild.nodeValue.trim() + ")" : "");
    }

    function columnOf(stage) {
      return board.querySelector('[data-column][data-stages~="' + stage + '"]');
    }

    function refreshEmpty() {
      board.querySelectorAll("[data-column]").forEach(function (column) {
        var empty = column.querySelector("[data-empty]");
        if (empty) { empty.hidden = column.querySelector("[data-opportunity]") !== null; }
      });
    }

    function updateCounts(counts) {
      if (!counts) { return; }
      Object.keys(counts).forEach(function (key) {
        var column = board.querySelector('[data-column="' + key + '"] [data-count]');
        if (column) { column.textContent = counts[key].toLocaleString("fr-FR"); }
      });
    }

    function closeMenus(except) {
      board.querySelectorAll("details[data-move-menu][open]").forEach(function (menu) {
        if (menu !== except) { menu.open = false; }
      });
    }

    // The server's card replaces the old one, at the top of its new column (the board's order: last moved first).
    function placeCard(card, data) {
      var hadFocus = card.contains(document.activeElement) || pendingCard === card;
      var template = document.createElement("template");
      template.innerHTML = data.card || "";
      var fresh = template.content.querySelector("[data-opportunity]");
      var column = columnOf(data.stage);
      if (!fresh || !column) { window.location.reload(); return; }
      card.remove();
      column.querySelector("[data-cards]").prepend(fresh);
      refreshEmpty();
      if (!hadFocus) { return; }
      var closed = column.querySelector("details[data-closed-cards]");
      var target = closed && !closed.open ? closed.querySelector("summary")
        : (fresh.querySelector("details[data-move-menu] summary") || fresh.querySelector("h3 a"));
      target.focus();
    }

    function move(card, stage, extra) {
      if (card.classList.contains("moving")) { return Promise.resolve(false); }
      var body = new FormData();
      body.append("stage", stage);
      body.append("version", card.getAttribute("data-version"));
      body.append("next", window.location.pathname + window.location.search);
      Object.keys(extra || {}).forEach(function (key) { body.append(key, extra[key]); });
      var name = cardName(card);
      card.classList.add("moving");
      return fetch(card.getAttribute("data-stage-url") + window.location.search, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": csrf ? csrf.getAttribute("content") : "" }
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          card.classList.remove("moving");
          if (response.ok && data.ok) {
            placeCard(card, data);
            updateCounts(data.counts);
            say(data.announcement || data.message, false, data.link || null);
            return true;
          }
          var message = (data.error && data.error.message) || "Le déplacement a échoué. Rechargez la page.";
          if (response.status === 409) { message += " (Rechargez la page pour voir la version à jour.)"; }
          say(name + " n'a pas été déplacée : " + message, true);
          return false;
        });
      }).catch(function () {
        card.classList.remove("moving");
        say("Le serveur ne répond pas : " + name + " n'a pas été déplacée.", true);
        return false;
      });
    }

    // Lost and abandoned ask for the outcome (when dropped on the column) and the reason: no default.
    function askReason(card, stage) {
      if (!dialog || typeof dialog.showModal !== "function") {
        window.location.href = card.querySelector("h3 a").href + "?etape=" + (stage || "perdue") + "#etape";
        return;
      }
      pendingCard = card;
      lossForm.reset();
      lossForm.querySelector("[data-loss-error]").hidden = true;
      lossForm.querySelector('[name="stage"]').value = stage || "";
      lossForm.querySelector("[data-loss-subject]").textContent = cardName(card);
      dialog.showModal();
      lossForm.querySelector(stage ? '[name="reason_id"]' : '[name="stage"]').focus();
    }

    if (lossForm) {
      lossForm.addEventListener("submit", function (event) {
        event.preventDefault();
        var stage = lossForm.querySelector('[name="stage"]').value;
        var reason = lossForm.querySelector('[name="reason_id"]').value;
        var error = lossForm.querySelector("[data-loss-error]");
        var missing = [];
        if (!stage) { missing.push("Choisissez l'issue."); }
        if (!reason) { missing.push("Choisissez la raison."); }
        if (missing.length) {
          error.textContent = missing.join(" "); error.hidden = false;
          lossForm.querySelector(stage ? '[name="reason_id"]' : '[name="stage"]').focus();
          return;
        }
        var card = pendingCard;
        dialog.close();
        if (card) {
          move(card, stage, { reason_id: reason, comment: lossForm.querySelector('[name="comment"]').value })
            .then(function () { pendingCard = null; });
        }
      });
      lossForm.querySelector("[data-loss-cancel]").addEventListener("click", function () {
        pendingCard = null; dialog.close();
      });
      dialog.addEventListener("cancel", function () { pendingCard = null; });
    }

    board.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.hasAttribute("data-move-form")) { return; }
      event.preventDefault();
      var button = event.submitter || form.querySelector("button:focus");
      if (!button || !button.value) { return; }
      var card = form.closest("[data-opportunity]");
      var menu = form.closest("details");
      if (menu) { menu.open = false; menu.querySelector("summary").focus(); }
      if (NEEDS_REASON.indexOf(button.value) !== -1) { askReason(card, button.value); } else { move(card, button.value); }
    });

    // The menus: one open at a time; arrows, Home/End and Escape as in a menu.
    board.addEventListener("toggle", function (event) {
      var details = event.target;
      if (details.hasAttribute && details.hasAttribute("data-move-menu") && details.open) { closeMenus(details); }
      if (details.hasAttribute && details.hasAttribute("data-closed-cards")) {
        var summary = details.querySelector("summary");
        summary.firstChild.nodeValue = details.open ? "Masquer" : "Afficher";
      }
    }, true);
    document.addEventListener("click", function (event) {
      if (!event.target.closest || !event.target.closest("details[data-move-menu]")) { closeMenus(null); }
    });
    board.addEventListener("keydown", function (event) {
      var menu = event.target.closest ? event.target.closest("details[data-move-menu]") : null;
      if (!menu) { return; }
      var items = Array.prototype.slice.call(menu.querySelectorAll(".move-item"));
      var index = items.indexOf(event.target);
      if (event.key === "Escape" && menu.open) {
        menu.open = false; menu.querySelector("summary").focus(); event.preventDefault();
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp" || event.key === "Home" || event.key === "End") {
        if (!items.length) { return; }
        if (!menu.open) { menu.open = true; }
        var next;
        if (event.key === "Home") { next = 0; }
        else if (event.key === "End") { next = items.length - 1; }
        else if (index === -1) { next = event.key === "ArrowDown" ? 0 : items.length - 1; }
        else { next = (index + (event.key === "ArrowDown" ? 1 : -1) + items.length) % items.length; }
        items[next].focus();
        event.preventDefault();
      }
    });

    board.addEventListener("dragstart", function (event) {
      var card = event.target.closest ? event.target.closest("[data-opportunity][draggable]") : null;
      if (!card) { return; }
      dragged = card;
      closeMenus(null);
      card.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.getAttribute("data-opportunity"));
    });
    board.addEventListener("dragend", function () {
      if (dragged) { dragged.classList.remove("dragging"); }
      dragged = null;
      board.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
    });

    board.querySelectorAll("[data-column]").forEach(function (column) {
      column.addEventListener("dragover", function (event) {
        if (!dragged || column.contains(dragged)) { return; }
        event.preventDefault();
        event.dataTransfer.dropEffect = "move";
        column.classList.add("drop-target");
      });
      column.addEventListener("dragleave", function (event) {
        if (!column.contains(event.relatedTarget)) { column.classList.remove("drop-target"); }
      });
      column.addEventListener("drop", function (event) {
        event.preventDefault();
        column.classList.remove("drop-target");
        var card = dragged;
        if (!card || column.contains(card)) { return; }
        if (column.hasAttribute("data-needs-reason")) { askReason(card, ""); }
        else { move(card, column.getAttribute("data-drop-stage")); }
      });
    });
  }
  // --- end of the pipeline board (ui-board) ---------------------------------------------------------
  // Activity form: several structures as removable chips (hidden inputs), and the contacts of the
  // structures chosen. Without JavaScript the same form works with checkboxes and a "Chercher" button.
  document.querySelectorAll("[data-structure-picker]").forEach(function (picker) {
    var chips = picker.querySelector(".chips");
    var search = picker.querySelector("input[data-autocomplete]");
    var fallback = picker.querySelector("[data-nojs]");
    // Removed, not hidden: it would otherwise stay the form's default button for the Enter key.
    if (fallback) { fallback.parentNode.removeChild(fallback); }

    function chosen() {
      return Array.prototype.map.call(chips.querySelectorAll("input[name=structure_ids]"), function (input) {
        return { id: input.value, label: input.closest("li").getAttribute("data-label") };
      });
    }
    function changed() {
      picker.dispatchEvent(new CustomEvent("structures-changed", { detail: chosen(), bubbles: true }));
    }
    function addChip(id, label) {
      if (chosen().some(function (s) { return s.id === id; })) { return; }
      var li = document.createElement("li");
      li.className = "chip"; li.setAttribute("data-label", label);
      var text = document.createElement("span"); text.textContent = label;
      var input = document.createElement("input");
      input.type = "hidden"; input.name = "structure_ids"; input.value = id;
      var remove = document.createElement("button");
      remove.type = "button"; remove.className = "chip-remove"; remove.textContent = "×";
      remove.setAttribute("aria-label", "Retirer " + label);
      remove.addEventListener("click", function () { li.parentNode.removeChild(li); changed(); search.focus(); });
      li.appendChild(text); li.appendChild(input); li.appendChild(remove);
      chips.appendChild(li);
    }
    Array.prototype.slice.call(chips.querySelectorAll("li")).forEach(function (li) {
      var box = li.querySelector("input[type=checkbox]");
      chips.removeChild(li);
      if (box && box.checked) { addChip(box.value, li.getAttribute("data-label") || li.textContent.trim()); }
    });
    search.addEventListener("structure-selected", function (event) {
      addChip(String(event.detail.id), event.detail.label);
      search.value = "";
      changed();
    });
    // Enter in the search box must never save a half-filled activity.
    search.addEventListener("keydown", function (event) { if (event.key === "Enter") { event.preventDefault(); } });
  });

  document.querySelectorAll("[data-contacts-url]").forEach(function (box) {
    var list = box.querySelector("[data-contact-list]");
    var request = 0;
    function message(text) {
      var p = document.createElement("p"); p.className = "empty"; p.textContent = text; list.appendChild(p);
    }
    function render(structures, contacts, checked) {
      list.innerHTML = "";
      if (!structures.length) { message("Choisissez d'abord une structure."); return; }
      if (!contacts.length) {
        message(structures.length > 1 ? "Aucun contact enregistré pour ces structures." : "Aucun contact enregistré pour cette structure.");
        return;
      }
      structures.forEach(function (structure) {
        var own = contacts.filter(function (c) { return String(c.structure_id) === structure.id; });
        if (!own.length) { return; }
        if (structures.length > 1) {
          var heading = document.createElement("p"); heading.className = "choice-heading";
          heading.textContent = structure.label; list.appendChild(heading);
        }
        var row = document.createElement("div"); row.className = "checkbox-row";
        own.forEach(function (contact) {
          var label = document.createElement("label"); label.className = "checkbox";
          var input = document.createElement("input");
          input.type = "checkbox"; input.name = "contact_ids"; input.value = contact.id;
          input.checked = !!checked[String(contact.id)];
          label.appendChild(input);
          label.appendChild(document.createTextNode(" " + contact.name));
          if (contact["function"]) {
            var small = document.createElement("small"); small.textContent = " – " + contact["function"];
            label.appendChild(small);
          }
          row.appendChild(label);
        });
        list.appendChild(row);
      });
    }
    box.closest("form").addEventListener("structures-changed", function (event) {
      var structures = event.detail, checked = {}, mine = ++request;
      box.querySelectorAll("input[name=contact_ids]:checked").forEach(function (c) { checked[c.value] = true; });
      if (!structures.length) { render([], [], checked); return; }
      var query = structures.map(function (s) { return "structure_id=" + encodeURIComponent(s.id); }).join("&");
      fetch(box.getAttribute("data-contacts-url") + "?" + query,
            { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (contacts) { if (mine === request) { render(structures, contacts, checked); } })
        .catch(function () { if (mine === request) { list.innerHTML = ""; message("Impossible de charger les contacts. Réessayez."); } });
    });
  });

  // Check-in screen (a tablet): search as one types, one tap marks present, sent with fetch + CSRF header.
  var checkin = document.querySelector("[data-checkin]");
  if (checkin) { initCheckin(checkin); }

  function initCheckin(root) {
    var input = root.querySelector("#checkin-q");
    var results = root.querySelector("[data-results]");
    var statusBox = document.getElementById("checkin-status");
    var csrf = document.querySelector('meta[name="csrf-token"]');
    var timer = null, request = 0;

    function say(message, isError) {
      statusBox.textContent = message;
      statusBox.className = "board-status flash " + (isError ? "flash-error" : "flash-success");
    }
    function updateCounts(counts) {
      if (!counts) { return; }
      var present = root.querySelector('[data-count="present"]');
      var expected = root.querySelector('[data-count="expected"]');
      if (present) { present.textContent = counts.present.toLocaleString("fr-FR"); }
      if (expected) { expected.textContent = (counts.inscrit + counts.present + counts.excuse).toLocaleString("fr-FR"); }
    }
    function row(item) {
      var li = document.createElement("li");
      li.className = item.status === "present" ? "is-present" : "";
      var who = document.createElement("div");
      who.className = "who";
      who.textContent = item.name;
      var small = document.createElement("small");
      small.textContent = [item.structure, item.function, item.status_label].filter(Boolean).join(" · ");
      who.appendChild(small);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button " + (item.status === "present" ? "" : "primary");
      button.textContent = item.status === "present" ? "Présent(e) ✓" : "Marquer présent(e)";
      button.disabled = item.status === "present";
      button.setAttribute("aria-label", "Marquer " + item.name + " présent(e)");
      button.addEventListener("click", function () { mark(item, li, button); });
      li.appendChild(who); li.appendChild(button);
      return li;
    }
    function mark(item, li, button) {
      var body = new FormData();
      body.append("status", "present");
      button.disabled = true;
      fetch(item.url, { method: "POST", body: body, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": csrf ? csrf.getAttribute("content") : "" } })
        .then(function (response) {
          return response.json().catch(function () { return {}; }).then(function (data) {
            if (response.ok && data.status === "present") {
              li.className = "is-present"; button.textContent = "Présent(e) ✓";
              li.querySelector("small").textContent = [data.structure, data.function, data.status_label].filter(Boolean).join(" · ");
              updateCounts(data.counts);
              say(data.name + " est noté(e) présent(e).", false);
            } else {
              button.disabled = false;
              say((data.error && data.error.message) || "L'enregistrement a échoué. Réessayez.", true);
            }
          });
        })
        .catch(function () { button.disabled = false; say("Le serveur ne répond pas : la présence n'est pas enregistrée.", true); });
    }
    function search(countsOnly) {
      var q = input.value.trim();
      var mine = ++request;
      var url = root.getAttribute("data-search-url") + "?q=" + encodeURIComponent(q);
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (mine !== request) { return; }
          updateCounts(data.counts);
          if (countsOnly) { return; }
          results.innerHTML = "";
          data.results.forEach(function (item) { results.appendChild(row(item)); });
          if (q.length >= 2 && data.results.length === 0) { say("Personne ne correspond à « " + q + " ».", true); }
          else { statusBox.textContent = ""; statusBox.className = "board-status"; }
        })
        .catch(function () { say("La recherche a échoué. Réessayez.", true); });
    }
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { search(false); }, 120);
    });
  }

  // A field that matters for one value of another only: <div data-show-when="source=evenement">.
  document.querySelectorAll("[data-show-when]").forEach(function (block) {
    var rule = block.getAttribute("data-show-when").split("=");
    var control = document.getElementById(rule[0]);
    if (!control) { return; }
    function sync() { block.hidden = control.value !== rule[1]; }
    control.addEventListener("change", sync);
    sync();
  });

  // Dashboards: the headline figures and their freshness refresh every few seconds (no full reload).
  var live = document.querySelector("[data-live-figures]");
  if (live) { initLiveFigures(live); }

  function initLiveFigures(root) {
    var url = root.getAttribute("data-url");
    function refresh() {
      if (document.hidden) { return; }
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          var text = root.querySelector("[data-freshness-text]");
          if (text) { text.textContent = data.freshness.text; }
          Object.keys(data.figures).forEach(function (key) {
            var tile = root.querySelector('[data-figure="' + key + '"]');
            if (!tile) { return; }
            var figure = data.figures[key];
            var rate = tile.querySelector("[data-rate]");
            var counts = tile.querySelector("[data-counts]");
            if (rate) { rate.textContent = figure.text; }
            if (counts) {
              counts.textContent = figure.numerator.toLocaleString("fr-FR") + " / " +
                figure.denominator.toLocaleString("fr-FR") + (figure.rate === null ? " (pas de données)" : "");
            }
          });
        })
        .catch(function () { /* the next tick tries again */ });
    }
    window.setInterval(refresh, 5000);
  }
})();

/* ---- Collapsed menu under 900 px (issue 16): the "Menu" button shows and hides the navigation;
   Escape closes it and gives the focus back to the button. Without JavaScript the menu is open. ---- */
(function () {
  "use strict";
  var toggle = document.querySelector("[data-menu-toggle]");
  if (!toggle) { return; }
  var menu = document.getElementById(toggle.getAttribute("aria-controls"));
  function set(open) {
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) { menu.removeAttribute("data-collapsed"); } else { menu.setAttribute("data-collapsed", ""); }
  }
  toggle.addEventListener("click", function () { set(toggle.getAttribute("aria-expanded") !== "true"); });
  menu.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true" &&
        window.getComputedStyle(toggle).display !== "none") {
      set(false); toggle.focus();
    }
  });
  // The skip link "Aller au menu" opens it.
  document.querySelectorAll("a[href='#navigation']").forEach(function (link) {
    link.addEventListener("click", function () { set(true); });
  });
})();

/* ---- A table that scrolls sideways inside its box (narrow screens) can be scrolled with the keyboard:
   it takes the focus (tabindex=0) while it is wider than its box (RGAA 7.3, axe scrollable-region-focusable). ---- */
(function () {
  "use strict";
  function mark() {
    document.querySelectorAll("table.table, .table-scroll, .chart-table").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0"); box.setAttribute("data-scroll-focus", "");
      } else if (!scrolls && box.hasAttribute("data-scroll-focus")) {
        box.removeAttribute("tabindex"); box.removeAttribute("data-scroll-focus");
      }
    });
  }
  mark();
  var timer = null;
  window.addEventListener("resize", function () { window.clearTimeout(timer); timer = window.setTimeout(mark, 150); });
})();

/* Events area (issue 16): a form whose chosen <option> carries data-confirm asks before it is sent
   (the registrants table: "Annuler l'inscription" is one choice among attendance statuses). */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.querySelectorAll) { return; }
    var chosen = form.querySelectorAll("select option:checked[data-confirm]");
    for (var i = 0; i < chosen.length; i++) {
      if (!window.confirm(chosen[i].getAttribute("data-confirm"))) { event.preventDefault(); return; }
    }
  });
})();

/* ---- ui-forms (issue 16): department selects scoped to the region, accessible multi-select ---- */
(function () {
  "use strict";

  // Department selects list the region's departments first and the others in an <optgroup label=
  // "Autres départements"> (crm/referential/services.py: department_choices). The group is taken out
  // until asked for, unless the value chosen is in it; without JavaScript every option stays listed.
  var OTHER_DEPARTMENTS = "Autres départements";
  document.querySelectorAll("select:not([multiple])").forEach(function (select) {
    var group = select.querySelector('optgroup[label="' + OTHER_DEPARTMENTS + '"]');
    var chosen = select.selectedIndex >= 0 ? select.options[select.selectedIndex] : null;
    if (!group || (chosen && group.contains(chosen))) { return; }
    var button = document.createElement("button");
    button.type = "button"; button.className = "button-link more-departments";
    button.textContent = "Afficher les autres départements";
    button.setAttribute("aria-controls", select.id);
    select.removeChild(group);
    select.insertAdjacentElement("afterend", button);
    button.addEventListener("click", function () {
      select.appendChild(group);
      button.parentNode.removeChild(button);
      select.focus();
    });
  });

  // A form's error summary (templates/_macros/forms.html: form_errors): its links move the focus to the field.
  document.querySelectorAll(".error-summary").forEach(function (summary) {
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      var target = link ? document.getElementById(link.getAttribute("href").slice(1)) : null;
      if (!target) { return; }
      event.preventDefault();
      target.scrollIntoView({ block: "center" });
      target.focus();
    });
  });

  // Multi-select with search (WAI-ARIA combobox + listbox with aria-multiselectable) over a native
  // <select multiple data-multiselect>: the select stays the field the form submits, hidden once enhanced;
  // chosen values show as chips with a remove button, typing filters, arrows/Enter/Escape work, and a
  // polite live region says how many are chosen.
  var counter = 0;
  document.querySelectorAll("select[multiple][data-multiselect]").forEach(function (select) { enhance(select); });

  function enhance(select) {
    var id = select.id || ("multiselect-" + (++counter));
    var label = document.querySelector('label[for="' + id + '"]');
    var name = label ? label.textContent.trim() : (select.getAttribute("aria-label") || "Choix");
    var box = document.createElement("div"); box.className = "multiselect";
    select.parentNode.insertBefore(box, select);
    box.appendChild(select);
    select.hidden = true; select.tabIndex = -1;

    var chips = document.createElement("ul");
    chips.className = "chips"; chips.setAttribute("aria-label", name + " : choix");
    var wrap = document.createElement("div"); wrap.className = "autocomplete";
    var input = document.createElement("input");
    input.type = "text"; input.id = id + "-search"; input.className = "multiselect-input";
    input.autocomplete = "off"; input.placeholder = "Tapez pour filtrer";
    input.setAttribute("role", "combobox"); input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    var list = document.createElement("div");
    list.id = id + "-listbox"; list.className = "autocomplete-list multiselect-list";
    list.setAttribute("role", "listbox"); list.setAttribute("aria-multiselectable", "true");
    list.setAttribute("aria-label", name); list.hidden = true;
    input.setAttribute("aria-controls", list.id);
    var status = document.createElement("p");
    status.className = "sr-only"; status.id = id + "-count"; status.setAttribute("aria-live", "polite");
    var describedBy = [select.getAttribute("aria-describedby"), status.id].filter(Boolean).join(" ");
    input.setAttribute("aria-describedby", describedBy);
    if (select.getAttribute("aria-invalid")) { input.setAttribute("aria-invalid", select.getAttribute("aria-invalid")); }
    if (label) { label.setAttribute("for", input.id); label.id = label.id || (id + "-label"); }
    document.querySelectorAll('.error-summary a[href="#' + id + '"]').forEach(function (a) { a.href = "#" + input.id; });
    wrap.appendChild(input); wrap.appendChild(list);
    box.appendChild(chips); box.appendChild(wrap); box.appendChild(status);

    var options = Array.prototype.slice.call(select.options);
    var visible = [], active = -1;

    function groupOf(option) {
      return option.parentNode.tagName === "OPTGROUP" ? option.parentNode.label : "";
    }
    function countText() {
      var n = options.filter(function (o) { return o.selected; }).length;
      return n === 0 ? "Aucun choix." : n === 1 ? "1 choix." : n + " choix.";
    }
    function renderChips() {
      chips.innerHTML = "";
      options.forEach(function (option) {
        if (!option.selected) { return; }
        var li = document.createElement("li"); li.className = "chip";
        var text = document.createElement("span"); text.textContent = option.text;
        var remove = document.createElement("button");
        remove.type = "button"; remove.className = "chip-remove"; remove.textContent = "×";
        remove.setAttribute("aria-label", "Retirer " + option.text);
        remove.addEventListener("click", function () { toggle(option); input.focus(); });
        li.appendChild(text); li.appendChild(remove); chips.appendChild(li);
      });
    }
    function renderList() {
      var q = input.value.trim().toLowerCase();
      list.innerHTML = ""; visible = [];
      var currentGroup = null, container = list;
      options.forEach(function (option) {
        if (option.disabled || !option.value) { return; }
        if (q && option.text.toLowerCase().indexOf(q) === -1) { return; }
        var group = groupOf(option);
        if (group !== currentGroup) {
          currentGroup = group;
          container = list;
          if (group) {
            container = document.createElement("div"); container.setAttribute("role", "group");
            var heading = document.createElement("div");
            heading.className = "multiselect-group"; heading.id = list.id + "-g" + list.children.length;
            heading.setAttribute("role", "presentation"); heading.textContent = group;
            container.setAttribute("aria-labelledby", heading.id);
            container.appendChild(heading); list.appendChild(container);
          }
        }
        var item = document.createElement("div");
        item.id = list.id + "-" + visible.length; item.className = "multiselect-option";
        item.setAttribute("role", "option");
        item.setAttribute("aria-selected", option.selected ? "true" : "false");
        item.textContent = option.text;
        item.addEventListener("mousedown", function (e) { e.preventDefault(); });
        item.addEventListener("click", function () {
          active = visible.indexOf(option); toggle(option); input.focus();
        });
        container.appendChild(item);
        visible.push(option);
      });
      if (!visible.length) {
        var none = document.createElement("div"); none.className = "multiselect-empty";
        none.setAttribute("role", "presentation"); none.textContent = "Aucun résultat.";
        list.appendChild(none);
      }
      if (active >= visible.length) { active = visible.length - 1; }
      markActive();
    }
    function markActive() {
      Array.prototype.forEach.call(list.querySelectorAll("[role=option]"), function (item, i) {
        item.classList.toggle("active", i === active);
      });
      if (active >= 0 && visible.length) {
        var item = document.getElementById(list.id + "-" + active);
        input.setAttribute("aria-activedescendant", item.id);
        if (item.scrollIntoView) { item.scrollIntoView({ block: "nearest" }); }
      } else { input.removeAttribute("aria-activedescendant"); }
    }
    function open() {
      if (!list.hidden) { return; }
      list.hidden = false; input.setAttribute("aria-expanded", "true"); renderList();
    }
    function close() {
      list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1;
      input.removeAttribute("aria-activedescendant");
    }
    function toggle(option) {
      option.selected = !option.selected;
      select.dispatchEvent(new Event("change", { bubbles: true }));
      renderChips();
      if (!list.hidden) { renderList(); }
      status.textContent = option.text + (option.selected ? " ajouté. " : " retiré. ") + countText();
    }

    input.addEventListener("input", function () { active = 0; if (list.hidden) { open(); } else { renderList(); } });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") {
        e.preventDefault();
        if (list.hidden) { open(); active = 0; } else { active = Math.min(active + 1, visible.length - 1); }
        markActive();
      } else if (e.key === "ArrowUp") {
        e.preventDefault();
        if (!list.hidden) { active = Math.max(active - 1, 0); markActive(); }
      } else if (e.key === "Enter") {
        // Enter chooses in the list; it never submits the form from this box.
        e.preventDefault();
        if (!list.hidden && active >= 0 && visible[active]) { toggle(visible[active]); }
        else { open(); }
      } else if (e.key === "Escape") {
        if (!list.hidden) { e.preventDefault(); close(); } else if (input.value) { input.value = ""; }
      } else if (e.key === "Backspace" && !input.value) {
        var chosen = options.filter(function (o) { return o.selected; });
        if (chosen.length) { toggle(chosen[chosen.length - 1]); }
      }
    });
    input.addEventListener("click", open);
    // The text is only a filter: leaving the box empties it, so that it never looks like a value.
    input.addEventListener("blur", function () { window.setTimeout(function () { close(); input.value = ""; }, 150); });
    renderChips();
    status.textContent = countText();
  }
})();
