/* MailKite dashboard: copy buttons and live last-used updates. Everything else works without it. */
(function () {
  "use strict";

  // Relative times, exactly as passwords/display.py words them.
  function ago(iso) {
    if (!iso) return "";
    var seconds = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 45) return "just now";
    if (seconds < 3600) return Math.max(1, Math.round(seconds / 60)) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    if (seconds < 30 * 86400) return Math.floor(seconds / 86400) + " d ago";
    return new Date(iso).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
  }

  function lastUsedText(cell) {
    var at = cell.dataset.at;
    if (!at) return "Never used";
    return [ago(at), cell.dataset.ip, cell.dataset.client].filter(Boolean).join(" · ");
  }

  // Copy buttons: shown only when JavaScript can copy.
  function setUpCopy() {
    document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
      var source = document.querySelector(button.dataset.copy);
      if (!source) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = source.value !== undefined ? source.value : source.textContent.trim();
        var done = function () {
          button.classList.add("copied");
          button.textContent = "Copied";
          setTimeout(function () { button.classList.remove("copied"); button.textContent = "Copy"; }, 2500);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { selectAndCopy(source, done); });
        } else {
          selectAndCopy(source, done);
        }
      });
    });
  }

  function selectAndCopy(source, done) {
    if (source.select) { source.select(); } else {
      var range = document.createRange(); range.selectNodeContents(source);
      var selection = window.getSelection(); selection.removeAllRanges(); selection.addRange(range);
    }
    try { if (document.execCommand("copy")) done(); } catch (e) { /* the text stays selected */ }
  }

  // Live last-used: a websocket fed by the server's event hub; reconnects with backoff.
  function setUpLive() {
    var table = document.getElementById("app-passwords");
    var status = document.getElementById("live-status");
    if (!table || !table.dataset.liveUrl || !("WebSocket" in window)) return;
    var delay = 1000;

    function connect() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + location.host + table.dataset.liveUrl);
      socket.onopen = function () {
        delay = 1000;
        status.hidden = false;
        status.textContent = "Live: “Last used” updates as soon as a mail app logs in.";
      };
      socket.onmessage = function (event) {
        var data = JSON.parse(event.data);
        if (data.type !== "app_password") return;
        var row = table.querySelector('tr[data-app-password="' + data.id + '"]');
        if (!row) return;
        var cell = row.querySelector("td.last-used");
        cell.dataset.at = data.last_used_at || "";
        cell.dataset.ip = data.last_used_ip || "";
        cell.dataset.client = data.last_used_client || "";
        cell.textContent = lastUsedText(cell);
        var badge = row.querySelector("td.status .badge");
        if (badge) {
          badge.textContent = data.status_text;
          badge.className = "badge " + (data.status === "active" ? "active" : "revoked");
        }
        row.classList.remove("updated"); void row.offsetWidth; row.classList.add("updated");
        status.textContent = "“" + row.querySelector("th").textContent + "” was used " + ago(data.last_used_at) + ".";
      };
      socket.onclose = function (event) {
        if (event.code === 4401) { status.hidden = false; status.textContent = "Sign in again for live updates."; return; }
        status.textContent = "Live updates paused; reconnecting…";
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    connect();
    setInterval(function () {
      table.querySelectorAll("td.last-used").forEach(function (cell) {
        if (cell.dataset.at) cell.textContent = lastUsedText(cell);
      });
    }, 30000);
  }

  document.addEventListener("DOMContentLoaded", function () { setUpCopy(); setUpLive(); });
})();
