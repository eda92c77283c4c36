// The simulator's chat: sends what the staff member types to the server side, which signs
// (and in safe mode encrypts) it exactly as WeChat does and posts it to /wechat.
(function () {
  function bubble(text, who) {
    var item = document.createElement("li");
    item.className = who;
    var span = document.createElement("span");
    span.className = "bubble";
    span.textContent = text;  // never innerHTML: replies are shown as text
    item.appendChild(span);
    document.getElementById("chat").appendChild(item);
    item.scrollIntoView();
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("composer");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var kind = document.getElementById("kind").value;
      var input = document.getElementById("message");
      var text = input.value;
      if (kind === "text" && !text.trim()) return;
      bubble(kind === "text" ? text : "[" + kind + "] " + text, "me");
      input.value = "";
      fetch(form.dataset.endpoint, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf || ""},
        body: JSON.stringify({kind: kind, text: text})
      }).then(function (r) { return r.json().then(function (d) { return [r.status, d]; }); })
        .then(function (pair) {
          var data = pair[1];
          if (pair[0] !== 200) { bubble("请求失败：" + pair[0], "error"); return; }
          bubble(data.status === 200 ? data.reply : "回调拒绝：HTTP " + data.status, data.status === 200 ? "bot" : "error");
          document.getElementById("raw").textContent = "请求：\n" + data.request_xml + "\n\n答复：\n" + data.reply_xml;
        })
        .catch(function () { bubble("网络错误", "error"); });
    });
  });
})();
