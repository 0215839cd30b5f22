/* Enrolment page: capture a reference from the webcam and post it; the answer replaces #references. */
(function () {
  "use strict";
  const cam = window.XuetangCamera;
  const section = document.getElementById("capture");
  const video = document.getElementById("camera-video");
  const status = document.getElementById("camera-status");
  const startButton = document.getElementById("camera-start");
  const shootButton = document.getElementById("camera-shoot");
  if (!cam || !section) return;

  function say(text) { status.textContent = text; }

  if (!cam.supported()) {
    say(cam.errorMessage(new Error("camera-unsupported")));
    startButton.disabled = true;
    return;
  }

  startButton.addEventListener("click", async function () {
    startButton.disabled = true;
    say("正在打开摄像头…");
    try {
      await cam.start(video);
      say("请正对摄像头，保持不动，然后点击“拍照并登记”。");
      shootButton.disabled = false;
    } catch (err) {
      say(cam.errorMessage(err));
      startButton.disabled = false;
    }
  });

  shootButton.addEventListener("click", async function () {
    shootButton.disabled = true;
    say("正在拍照并检查照片质量…");
    try {
      const blob = await cam.capture({ width: 640, quality: 0.8 });
      const review = document.getElementById("request-review");
      const fields = review && review.checked ? { request_review: "1" } : {};
      const res = await cam.post(section.dataset.url, blob, {
        field: "photo", fields: fields, retries: 2, headers: { "HX-Request": "true" } });
      const old = document.getElementById("references");
      if (res.text && old) {
        const holder = document.createElement("div");
        holder.innerHTML = res.text;
        const fresh = holder.querySelector("#references");
        if (fresh) old.replaceWith(fresh);
      }
      say(res.ok ? "已提交。" : "未能登记，请按提示调整后重新拍摄。");
    } catch (err) {
      say(cam.isCameraError(err) ? cam.errorMessage(err) : "网络连接失败，请稍后重试。");
    }
    shootButton.disabled = false;
  });
})();
