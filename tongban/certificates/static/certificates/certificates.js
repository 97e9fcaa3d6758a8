/* 亮证倒计时 and the optional camera scan on 验真 (BarcodeDetector where the browser has it; nothing is
   downloaded, the page works without it). Loaded as a file: the pages allow no inline scripts. */
(function () {
  "use strict";

  function countdown(el) {
    var until = Date.parse(el.getAttribute("data-expires"));
    var label = el.querySelector("[data-left]") || el;
    function tick() {
      var left = Math.max(0, Math.round((until - Date.now()) / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      label.textContent = left > 0 ? m + "分" + (s < 10 ? "0" : "") + s + "秒" : "已过期";
      if (left <= 0) {
        el.classList.add("cert-countdown-over");
        var qr = document.getElementById("cert-present-qr");
        if (qr) { qr.setAttribute("hidden", ""); }
        var over = document.getElementById("cert-present-over");
        if (over) { over.removeAttribute("hidden"); }
        return;
      }
      window.setTimeout(tick, 1000);
    }
    tick();
  }

  function scanner(button) {
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { return; }
    var box = document.getElementById("cert-scan");
    var video = box && box.querySelector("video");
    var form = document.getElementById("cert-qr-form");
    if (!box || !video || !form) { return; }
    button.removeAttribute("hidden");
    button.addEventListener("click", function () {
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
        box.removeAttribute("hidden");
        video.srcObject = stream;
        video.play();
        function look() {
          detector.detect(video).then(function (codes) {
            if (codes.length) {
              stream.getTracks().forEach(function (t) { t.stop(); });
              form.querySelector("textarea").value = codes[0].rawValue;
              form.submit();
              return;
            }
            window.requestAnimationFrame(look);
          }).catch(function () { window.setTimeout(look, 300); });
        }
        look();
      }).catch(function () {
        var msg = document.getElementById("cert-scan-msg");
        if (msg) { msg.textContent = "无法打开摄像头，请改用手机相机扫码或手动输入证照标识"; msg.removeAttribute("hidden"); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-expires]"), countdown);
    var button = document.getElementById("cert-scan-button");
    if (button) { scanner(button); }
  });
})();
