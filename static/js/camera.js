/*
 * camera.js: a small webcam snapshot helper shared by the enrolment page and the player.
 *
 * API (window.XuetangCamera):
 *   supported()                   -> boolean: the browser has getUserMedia (https or localhost)
 *   start(video?)                 -> Promise<MediaStream>: asks for the camera once and shows it
 *                                    in `video` (an HTMLVideoElement) or in a hidden one it makes;
 *                                    later calls reuse the same stream
 *   capture(options?)             -> Promise<Blob>: a JPEG of the current frame (starts the camera
 *                                    first when needed). options: {width: 320, quality: 0.7,
 *                                    height, maxBytes}; without height it follows the camera's
 *                                    aspect ratio, with it the frame is cropped to fill
 *                                    width x height; with maxBytes the quality steps down (to 0.3)
 *                                    until the JPEG fits. Face checks take 320x240 at <= 20 KB
 *                                    (tests/browser/test_faces_capture.py measures it).
 *   post(url, blob, options?)     -> Promise<{status, ok, data}>: POSTs the JPEG as multipart field
 *                                    `snapshot` (options.field to change it) with the CSRF header,
 *                                    retrying on network errors and 5xx (options.retries: 3, with
 *                                    1 s, 2 s, 4 s back-off); `data` is the parsed JSON (or null).
 *   stop()                        -> releases the camera
 *   errorMessage(err)             -> a Chinese message for a failed start()/capture()
 *   isCameraError(err)            -> true when err came from the camera (not the network)
 *
 * A face check in the player:
 *   const blob = await XuetangCamera.capture();                 // 320 px, quality 0.7
 *   const res = await XuetangCamera.post("/faces/checks/" + nonce, blob);
 *   if (res.data && res.data.passed) { ...resume... } else { ...pause, show res.data.reason,
 *       retry with res.data.retry.nonce... }
 */
(function () {
  "use strict";

  let stream = null;
  let video = null;

  function supported() {
    return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  function csrfToken() {
    try {
      const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      return headers["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function waitForFrame(el) {
    return new Promise(function (resolve, reject) {
      const started = Date.now();
      (function poll() {
        if (el.readyState >= 2 && el.videoWidth > 0) return resolve(el);
        if (Date.now() - started > 10000) return reject(new Error("camera-timeout"));
        setTimeout(poll, 50);
      })();
    });
  }

  async function start(target) {
    if (!supported()) throw new Error("camera-unsupported");
    if (!stream || !stream.active) {
      stream = await navigator.mediaDevices.getUserMedia({
        // A low frame rate is plenty for a preview and spares a phone's battery and CPU.
        video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user",
                 frameRate: { ideal: 10, max: 15 } },
        audio: false,
      });
    }
    if (target && target !== video) video = target;
    if (!video) {
      video = document.createElement("video");
      video.muted = true;
      video.setAttribute("playsinline", "");
      video.style.cssText = "position:absolute;width:1px;height:1px;opacity:0;pointer-events:none";
      document.body.appendChild(video);
    }
    if (video.srcObject !== stream) video.srcObject = stream;
    await video.play().catch(function () {});
    await waitForFrame(video);
    return stream;
  }

  function encode(canvas, quality) {
    return new Promise(function (resolve, reject) {
      canvas.toBlob(function (blob) {
        if (blob) resolve(blob); else reject(new Error("capture-failed"));
      }, "image/jpeg", quality);
    });
  }

  async function capture(options) {
    const opts = Object.assign({ width: 320, quality: 0.7 }, options || {});
    await start(video);
    const vw = video.videoWidth, vh = video.videoHeight;
    const width = Math.min(opts.width, vw);
    const height = opts.height ? Math.round(opts.height * width / opts.width)
                               : Math.round((vh * width) / vw);
    // Crop the camera frame to the target's aspect ratio (centred), then scale it down.
    const scale = Math.min(vw / width, vh / height);
    const sw = width * scale, sh = height * scale;
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    canvas.getContext("2d").drawImage(video, (vw - sw) / 2, (vh - sh) / 2, sw, sh, 0, 0, width, height);
    let quality = opts.quality;
    let blob = await encode(canvas, quality);
    while (opts.maxBytes && blob.size > opts.maxBytes && quality > 0.35) {
      quality -= 0.1;
      blob = await encode(canvas, quality);
    }
    return blob;
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  async function post(url, blob, options) {
    const opts = Object.assign({ retries: 3, field: "snapshot", fields: {}, headers: {} }, options || {});
    let lastError = null;
    for (let attempt = 0; attempt <= opts.retries; attempt++) {
      if (attempt > 0) await sleep(1000 * Math.pow(2, attempt - 1));
      const body = new FormData();
      body.append(opts.field, blob, "snapshot.jpg");
      Object.keys(opts.fields).forEach(function (k) { body.append(k, opts.fields[k]); });
      try {
        const response = await fetch(url, {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: Object.assign({ "X-CSRFToken": csrfToken() }, opts.headers),
        });
        if (response.status >= 500 && attempt < opts.retries) continue;
        const type = response.headers.get("Content-Type") || "";
        const data = type.indexOf("application/json") >= 0 ? await response.json() : null;
        const text = data === null ? await response.text() : null;
        return { status: response.status, ok: response.ok, data: data, text: text };
      } catch (err) {
        lastError = err; // network error: try again
      }
    }
    throw lastError || new Error("network");
  }

  function stop() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    if (video) video.srcObject = null;
  }

  function errorName(err) {
    if (!err) return "";
    return err.name && err.name !== "Error" ? err.name : (err.message || "");
  }

  function isCameraError(err) {
    return /^(NotAllowedError|NotFoundError|NotReadableError|OverconstrainedError|SecurityError|AbortError|camera-)/
      .test(errorName(err));
  }

  function errorMessage(err) {
    const name = errorName(err);
    if (name === "camera-unsupported") return "此浏览器无法使用摄像头，请使用新版浏览器并通过 https 访问，或改为上传照片。";
    if (name === "NotAllowedError" || name === "SecurityError") return "摄像头权限被拒绝。请在浏览器地址栏的权限设置中允许使用摄像头后重试。";
    if (name === "NotFoundError" || name === "OverconstrainedError") return "未找到摄像头。没有摄像头时无法获得专业科目学时。";
    if (name === "NotReadableError") return "摄像头正被其他程序占用，请关闭其他程序后重试。";
    if (name === "camera-timeout") return "摄像头没有画面，请检查摄像头后重试。";
    return "无法使用摄像头：" + name;
  }

  window.XuetangCamera = { supported: supported, start: start, capture: capture, post: post,
                           stop: stop, errorMessage: errorMessage, isCameraError: isCameraError,
                           csrfToken: csrfToken };
})();
