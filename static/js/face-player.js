/*
 * face-player.js: face checks in the lesson player (needs camera.js).
 *
 * Contract with the player (player.js):
 *   - the page has <video id="video"> inside <div id="player" data-lesson="LESSON_ID">;
 *   - the player dispatches, for the open-session answer and for every heartbeat answer,
 *       document.dispatchEvent(new CustomEvent("xuetang:answer", { detail: answer }))
 *     where answer.session is the play session id and answer.face is the server's face state
 *     (services.face_checks.SessionView.as_json()):
 *       { blocked: bool, reason: "…", check: null | { nonce, url, deadline_s, late_s, kind } }.
 *
 * The check dialog (#face-check) shows a small, low-rate live preview with framing hints
 * computed here from the preview (too dark, too bright, blurred; face too small or off-centre
 * where the browser has a FaceDetector) and takes the snapshot once the frame has looked right
 * for a moment (or at the latest after HINT_WAIT_MS, or when the trainee presses 拍照核验): the
 * server checks the same things again. A snapshot that cannot be delivered (link down) is kept
 * in the page with its nonce and the moment it was taken, and sent again when the link is back,
 * up to late_s after the check's deadline; it carries its age, so the server can accept a
 * snapshot that was taken in time. It never decides anything itself: a pass only lets the video
 * play again; the server credits the minutes.
 */
(function () {
  "use strict";
  var cam = window.XuetangCamera;
  var root = document.getElementById("player");
  var video = document.getElementById("video");
  if (!cam || !root || !video) return;

  // The server's hints (xuetang/face/quality.py PROBLEM_MESSAGES), for the same codes; a test
  // keeps them equal.
  var HINTS = {
    too_dark: "光线太暗，请打开灯或面向光源。",
    too_bright: "光线太亮或过曝，请避开强光直射。",
    blurred: "照片模糊，请保持不动，必要时擦拭摄像头镜头。",
    face_too_small: "人脸太小，请靠近摄像头一些。",
    off_centre: "人脸不在画面中央，请把脸移到画面正中。"
  };
  // The server's limits (face/quality.py Limits): frame luminance 50-220, frame sharpness 10,
  // face side 15% of the frame, centre within 25% of the middle.
  var MIN_LUMA = 50, MAX_LUMA = 220, MIN_SHARPNESS = 10, MIN_FACE = 0.15, MAX_OFFSET = 0.25;
  var SAMPLE_MS = 700;        // preview hints ~1.4 times a second: cheap on a phone
  var STEADY_SAMPLES = 2;     // this many good samples in a row, then the shot
  var HINT_WAIT_MS = 8000;    // shoot anyway after this long (the server says what is wrong)
  var RESEND_MS = 3000;       // how often a queued snapshot is tried again

  var lessonId = Number(root.dataset.lesson);
  var startUrl = root.dataset.faceUrl;  // the server names every URL: no hard-coded paths
  var session = null;
  var blocked = true;        // until the server says otherwise
  var busy = false;          // a snapshot is being framed, taken or posted
  var handled = {};          // nonces already answered
  var retryCheck = null;     // the retry the server issued with a failed decision
  var queued = [];           // snapshots waiting for the link: {check, blob, takenAt, until}
  var hintCodes = [];
  var detector = ("FaceDetector" in window) ? safeDetector() : null;

  var box = document.getElementById("face-check");
  if (!box) {
    box = document.createElement("div");
    box.id = "face-check";
    box.className = "card";
    root.parentNode.insertBefore(box, root.nextSibling);
  }
  box.setAttribute("role", "status");
  box.innerHTML =
    '<video id="face-preview" width="160" height="120" muted playsinline hidden' +
    ' aria-label="摄像头预览"></video>' +
    '<ul id="face-hints" aria-live="polite"></ul>' +
    '<p id="face-message"></p>' +
    '<button type="button" id="face-shoot" hidden>拍照核验</button> ' +
    '<button type="button" id="face-retry" hidden>重新核验</button>';
  var preview = document.getElementById("face-preview");
  var hintList = document.getElementById("face-hints");
  var message = document.getElementById("face-message");
  var shootButton = document.getElementById("face-shoot");
  var retryButton = document.getElementById("face-retry");
  var sampler = document.createElement("canvas");
  sampler.width = 100;
  sampler.height = 75;

  function safeDetector() {
    try { return new window.FaceDetector({ fastMode: true, maxDetectedFaces: 2 }); }
    catch (e) { return null; }
  }

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? "bad" : "muted";
  }

  function hold(reason) {
    blocked = true;
    if (!video.paused) video.pause();
    say(reason || "人脸核验未通过，播放已暂停。", true);
    retryButton.hidden = false;
  }

  function release() {
    blocked = false;
    retryButton.hidden = true;
    say("人脸核验通过。", false);
  }

  // ---------------------------------------------------------------- preview and hints

  function showHints(codes) {
    hintCodes = codes;
    hintList.textContent = "";
    codes.forEach(function (code) {
      var li = document.createElement("li");
      li.className = "bad";
      li.dataset.code = code;
      li.textContent = HINTS[code];
      hintList.appendChild(li);
    });
  }

  // Mean luma and a normalised Laplacian variance (as face/quality.py sharpness: detail relative
  // to contrast, so a dim frame is not called blurred) of the preview at 100x75.
  function frameHints() {
    if (preview.readyState < 2 || !preview.videoWidth) return null;
    var ctx = sampler.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(preview, 0, 0, sampler.width, sampler.height);
    var px = ctx.getImageData(0, 0, sampler.width, sampler.height).data;
    var w = sampler.width, h = sampler.height, n = w * h, grey = new Float32Array(n);
    var sum = 0, sq = 0;
    for (var i = 0; i < n; i++) {
      var y = 0.299 * px[4 * i] + 0.587 * px[4 * i + 1] + 0.114 * px[4 * i + 2];
      grey[i] = y; sum += y; sq += y * y;
    }
    var mean = sum / n, variance = sq / n - mean * mean;
    if (mean < MIN_LUMA) return ["too_dark"];
    if (mean > MAX_LUMA) return ["too_bright"];
    var lsum = 0, lsq = 0, m = 0;
    for (var r = 1; r < h - 1; r++) {
      for (var c = 1; c < w - 1; c++) {
        var k = r * w + c;
        var lap = grey[k - 1] + grey[k + 1] + grey[k - w] + grey[k + w] - 4 * grey[k];
        lsum += lap; lsq += lap * lap; m++;
      }
    }
    var lapVar = lsq / m - (lsum / m) * (lsum / m);
    if (variance < 1e-6 || 100 * lapVar / variance < MIN_SHARPNESS) return ["blurred"];
    return [];
  }

  async function faceHints() {
    if (!detector) return [];
    try {
      var faces = await detector.detect(preview);
      if (faces.length !== 1) return [];  // none or several: the server says which
      var b = faces[0].boundingBox, W = preview.videoWidth, H = preview.videoHeight;
      if (Math.min(b.width, b.height) < MIN_FACE * Math.min(W, H)) return ["face_too_small"];
      var dx = Math.abs((b.x + b.width / 2) / W - 0.5), dy = Math.abs((b.y + b.height / 2) / H - 0.5);
      return Math.max(dx, dy) > MAX_OFFSET ? ["off_centre"] : [];
    } catch (e) {
      return [];
    }
  }

  var sampling = false;
  async function sample() {
    if (sampling) return;
    sampling = true;
    try {
      var codes = frameHints();
      if (codes && !codes.length) codes = await faceHints();
      if (codes) showHints(codes);
    } finally {
      sampling = false;
    }
  }

  var previewStarted = null;
  function startPreview() {
    if (!previewStarted) {
      previewStarted = cam.start(preview).then(function () {
        preview.hidden = false;
        setInterval(sample, SAMPLE_MS);
      });
      previewStarted.catch(function () { previewStarted = null; });
    }
    return previewStarted;
  }

  // Resolves when the preview has looked right for STEADY_SAMPLES samples, after HINT_WAIT_MS,
  // or when the trainee presses 拍照核验.
  function framed() {
    return new Promise(function (resolve) {
      var good = 0, started = Date.now(), timer = null;
      function done() {
        clearInterval(timer);
        shootButton.hidden = true;
        shootButton.onclick = null;
        resolve();
      }
      shootButton.hidden = false;
      shootButton.onclick = done;
      timer = setInterval(function () {
        good = hintCodes.length ? 0 : good + 1;
        if (good >= STEADY_SAMPLES || Date.now() - started > HINT_WAIT_MS) done();
      }, SAMPLE_MS);
    });
  }

  // ---------------------------------------------------------------- taking and sending

  function until(check) {
    return Date.now() + 1000 * ((check.deadline_s || 60) + (check.late_s || 0));
  }

  function decided(data, ok) {
    if (ok && data.passed) {
      var wasHeld = blocked;
      release();
      if (wasHeld && video.paused && !video.ended) video.play().catch(function () {});
    } else {
      retryCheck = data.retry || null;
      hold(data.reason || data.message || "人脸核验未通过。");
    }
  }

  // One try at delivering a snapshot; true when the server answered (whatever it said).
  async function deliver(item) {
    var age = Math.max(0, Math.round(performance.now() - item.takenAt));
    var res;
    try {
      res = await cam.post(item.check.url, item.blob, { retries: 0, fields: { age_ms: String(age) } });
    } catch (err) {
      return false;
    }
    if (res.status >= 500) return false;
    decided(res.data || {}, res.ok);
    return true;
  }

  var flushing = false;
  async function flush() {
    if (!queued.length || flushing) return;
    flushing = true;
    try {
      while (queued.length) {
        var item = queued[0];
        if (Date.now() > item.until) {
          queued.shift();
          hold("网络长时间中断，核验照片未能送达，请重新核验。");
          continue;
        }
        if (!(await deliver(item))) return;
        queued.shift();
      }
    } finally {
      flushing = false;
    }
  }
  window.addEventListener("online", flush);
  setInterval(flush, RESEND_MS);

  async function answerCheck(check) {
    if (busy || handled[check.nonce]) return;
    busy = true;
    handled[check.nonce] = true;
    say("正在进行人脸核验，请正对摄像头…", false);
    try {
      await startPreview();
      await framed();
      var blob = await cam.capture({ width: 320, height: 240, quality: 0.7, maxBytes: 20 * 1024 });
      var item = { check: check, blob: blob, takenAt: performance.now(), until: until(check) };
      if (!(await deliver(item))) {
        queued.push(item);
        say("网络连接中断：照片已拍好并保存在本页，联网后自动补传（请勿关闭页面）。", true);
      }
    } catch (err) {
      hold(cam.isCameraError(err) ? cam.errorMessage(err) : "人脸核验未完成，请重试。");
    } finally {
      busy = false;
    }
  }

  async function retry() {
    if (busy) return;
    retryButton.hidden = true;
    if (retryCheck && !handled[retryCheck.nonce]) {
      var check = retryCheck;
      retryCheck = null;
      return answerCheck(check);
    }
    try {
      var response = await fetch(startUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": cam.csrfToken() },
        body: JSON.stringify({ lesson_id: lessonId, play_session_id: session })
      });
      var data = await response.json();
      if (data.nonce) return answerCheck(data);
      hold(data.message || "无法发起人脸核验。");
    } catch (e) {
      hold("网络连接失败，请稍后重试。");
    }
  }

  retryButton.addEventListener("click", retry);

  video.addEventListener("play", function () {
    if (blocked && !busy) {
      video.pause();
      say("请先完成人脸核验。", true);
      retryButton.hidden = false;
    }
  });

  document.addEventListener("xuetang:answer", function (event) {
    var answer = event.detail || {};
    if (answer.session) session = answer.session;
    var face = answer.face;
    if (!face) return;
    if (face.check && !handled[face.check.nonce]) {
      answerCheck(face.check);
    } else if (queued.length) {
      flush();  // the link is back: the queued snapshot answers for the check
    } else if (face.blocked && !busy) {
      hold(face.reason);
    } else if (!face.blocked && blocked && !busy) {
      release();
    }
  });

  if (!cam.supported()) {
    hold("此浏览器无法使用摄像头：专业科目需要摄像头进行人脸核验，否则不能计入学时。");
  } else {
    say("专业科目学习需进行人脸核验，请允许使用摄像头。", false);
  }
})();
