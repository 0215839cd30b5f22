/*
 * face-player.js: face checks in the lesson player (needs camera.js).
 *
 * Contract with the player (player.js):
 *   - the page has <video id="video"> inside <div id="player" data-lesson="LESSON_ID">;
 *   - the player dispatches, for the open-session answer and for every heartbeat answer,
 *       document.dispatchEvent(new CustomEvent("xuetang:answer", { detail: answer }))
 *     where answer.session is the play session id and answer.face is the server's face state
 *     (services.face_checks.SessionView.as_json()):
 *       { blocked: bool, reason: "…", check: null | { nonce, url, deadline_s, kind } }.
 * This file then takes the snapshot for each new check, posts it, and pauses playback with the
 * reason and a retry button while the server says the session is blocked. It never decides
 * anything itself: a pass only lets the video play again; the server credits the minutes.
 */
(function () {
  "use strict";
  var cam = window.XuetangCamera;
  var root = document.getElementById("player");
  var video = document.getElementById("video");
  if (!cam || !root || !video) return;

  var lessonId = Number(root.dataset.lesson);
  var startUrl = root.dataset.faceUrl;  // the server names every URL: no hard-coded paths
  var session = null;
  var blocked = true;        // until the server says otherwise
  var busy = false;          // a snapshot is being taken or posted
  var handled = {};          // nonces already answered
  var retryCheck = null;     // the retry the server issued with a failed decision

  var box = document.getElementById("face-check");
  if (!box) {
    box = document.createElement("div");
    box.id = "face-check";
    box.className = "card";
    root.parentNode.insertBefore(box, root.nextSibling);
  }
  box.setAttribute("role", "status");
  box.innerHTML = '<p id="face-message"></p><button type="button" id="face-retry" hidden>重新核验</button>';
  var message = document.getElementById("face-message");
  var retryButton = document.getElementById("face-retry");

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

  async function answerCheck(check) {
    if (busy || handled[check.nonce]) return;
    busy = true;
    handled[check.nonce] = true;
    say("正在进行人脸核验，请正对摄像头…", false);
    try {
      var blob = await cam.capture({ width: 320, quality: 0.7 });
      var res = await cam.post(check.url, blob, { retries: 3 });
      var data = res.data || {};
      if (res.ok && data.passed) {
        var wasHeld = blocked;
        release();
        if (wasHeld && video.paused && !video.ended) video.play().catch(function () {});
      } else {
        retryCheck = data.retry || null;
        hold(data.reason || data.message || "人脸核验未通过。");
      }
    } catch (err) {
      hold(cam.isCameraError(err) ? cam.errorMessage(err) : "网络连接失败，人脸核验未完成，请重试。");
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
