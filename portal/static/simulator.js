// The simulator's chat: sends what the staff member types (or the menu entry they tap) to the
// server side, which builds, signs and encrypts it as WeChat does and passes it to the callback.
(function () {
  var URL_RE = /https?:\/\/[^\s<>"'，。；）]+/g;

  function linkFor(url, publicUrl) {
    // A link to this account's own pages opens on this server, wherever PUBLIC_URL points.
    var a = document.createElement("a");
    a.textContent = url;
    a.href = publicUrl && url.indexOf(publicUrl + "/") === 0 ? url.slice(publicUrl.length) : url;
    a.target = "_blank";
    a.rel = "noopener";
    return a;
  }

  function fill(span, text, publicUrl) {
    // Text nodes and <a> elements only: never innerHTML, replies are shown as text.
    var at = 0, match;
    URL_RE.lastIndex = 0;
    while ((match = URL_RE.exec(text)) !== null) {
      span.appendChild(document.createTextNode(text.slice(at, match.index)));
      span.appendChild(linkFor(match[0], publicUrl));
      at = match.index + match[0].length;
    }
    span.appendChild(document.createTextNode(text.slice(at)));
  }

  function bubble(text, who, publicUrl) {
    var item = document.createElement("li");
    item.className = who;
    var span = document.createElement("span");
    span.className = "bubble";
    fill(span, text, who === "bot" ? publicUrl : null);
    item.appendChild(span);
    document.getElementById("chat").appendChild(item);
    item.scrollIntoView();
  }

  function send(form, kind, text, shown) {
    var publicUrl = form.dataset.publicUrl || "";
    bubble(shown, "me");
    fetch(form.dataset.endpoint, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf || ""},
      body: JSON.stringify({kind: kind, text: text})
    }).then(function (r) { return r.json().then(function (d) { return [r.status, d]; }); })
      .then(function (pair) {
        var data = pair[1];
        if (pair[0] !== 200) { bubble("请求失败（" + pair[0] + "）：请刷新页面后重试", "error"); return; }
        if (data.status === 200) { bubble(data.reply, "bot", publicUrl); }
        else { bubble("回调拒绝了这条消息（" + data.status + "）", "error"); }
        document.getElementById("raw").textContent = "请求：\n" + data.request_xml + "\n\n答复：\n" + data.reply_xml;
      })
      .catch(function () { bubble("网络错误", "error"); });
  }

  var KIND_WORDS = {voice: "语音", image: "图片", location: "位置", link: "链接", subscribe: "关注",
                    unsubscribe: "取消关注"};

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("composer");
    var publicUrl = form.dataset.publicUrl || "";
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var kind = document.getElementById("kind").value;
      var input = document.getElementById("message");
      var text = input.value;
      if (kind === "text" && !text.trim()) return;
      input.value = "";
      send(form, kind, text, kind === "text" ? text : "[" + KIND_WORDS[kind] + "] " + text);
    });
    Array.prototype.forEach.call(document.querySelectorAll(".menu-click"), function (button) {
      button.addEventListener("click", function () {
        var open = button.closest("details");
        if (open) open.removeAttribute("open");
        send(form, "click", button.dataset.key, "[菜单] " + button.textContent);
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll("a[data-public-link]"), function (a) {
      var url = a.getAttribute("href");
      if (publicUrl && url.indexOf(publicUrl + "/") === 0) a.setAttribute("href", url.slice(publicUrl.length));
    });
  });
})();
