/* The lesson player: picks a rendition for the connection, resumes, pauses when the tab is hidden,
   and reports heartbeats. The server decides what counts; this file only reports what happened.
   Beats go out one at a time in order; a lost beat is retried once with the same seq (the server
   ignores a seq it already has), and if the link stays down the player later reports where it is
   NOW with a new seq instead of replaying stale beats.
   When another tab or device takes over, this player stops, says so and never opens a session
   by itself again: only the "continue here" button does (which takes over in turn).
   Rendition links are signed and expire: when the video fails to load (an expired link is a
   403), the player asks for fresh links and resumes at the same position, playing if it was. */
(function () {
  "use strict";
  var root = document.getElementById("player");
  var video = document.getElementById("video");
  if (!root || !video) return;

  var lessonId = Number(root.dataset.lesson);
  var sources = JSON.parse(root.dataset.sources || "[]");
  var intervalMs = Math.max(1, Number(root.dataset.interval) || 30) * 1000;
  var csrf = "";
  try { csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { /* none */ }

  var session = null, seq = 0, resumeAt = 0, resumed = false;
  var queue = [], sending = false, retryTimer = null, lostEvent = null;
  var lastPos = 0, openPromise = null, switching = false, superseded = false;
  var status = document.getElementById("beat-status");
  var select = document.getElementById("rendition");
  var elsewhere = document.getElementById("superseded");
  var continueHere = document.getElementById("continue-here");

  function say(text) { if (status) status.textContent = text; }

  function pickRendition() {
    var names = sources.map(function (s) { return s.name; });
    var saved = null;
    try { saved = localStorage.getItem("xt-rendition"); } catch (e) { /* private mode */ }
    if (saved && names.indexOf(saved) >= 0) return saved;
    var lowest = sources[0], best = lowest;
    var c = navigator.connection;
    if (c && (c.saveData || /2g|3g/.test(c.effectiveType || ""))) return lowest.name;
    // The lower of the browser's estimate and what this page's own HTML took to arrive: some
    // browsers fix or round navigator.connection (or have none), the page's delivery is real.
    var kbps = Math.min(c && c.downlink ? c.downlink * 1000 : Infinity, pageKbps());
    if (!isFinite(kbps)) return lowest.name;  // nothing known: the safe start
    sources.forEach(function (s) { if (s.kbps * 1.5 <= kbps) best = s; });
    return best.name;
  }

  function pageKbps() {
    // Bits of the page over the time from its first to its last byte (bits per ms = kb/s): the
    // server's own time to answer does not count, the link's does. Only a page that took a
    // tenth of a second or more says something (a link under ~150 kb/s for this small page);
    // shorter gaps are a busy server's scheduling as often as the link (Infinity: the
    // browser's estimate, if any, decides).
    var nav = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
    if (!nav || !nav.transferSize || !(nav.responseEnd - nav.responseStart >= 100)) return Infinity;
    return nav.transferSize * 8 / (nav.responseEnd - nav.responseStart);
  }

  function sourceOf(name) {
    for (var i = 0; i < sources.length; i++) if (sources[i].name === name) return sources[i];
    return sources[0];
  }

  function useRendition(name, keepPlaying, from) {
    var at = from !== undefined ? from : (video.currentTime || resumeAt);
    if (playing()) report("pause", at);  // before the new source resets the position
    switching = true;
    video.src = sourceOf(name).url;
    if (select) select.value = name;
    video.addEventListener("loadedmetadata", function once() {
      video.removeEventListener("loadedmetadata", once);
      switching = false;
      if (!at && !resumed) at = resumeAt;  // the session may have answered while this loaded
      lastPos = at;
      if (at > 0 && at < video.duration) video.currentTime = at;
      if (keepPlaying) video.play().catch(function () { /* needs a click */ });
    });
  }

  function playing() { return !video.paused && !video.ended; }

  function show(answer) {
    // Face checks (face-player.js) listen to every answer of the server.
    document.dispatchEvent(new CustomEvent("xuetang:answer", { detail: answer }));
    var set = function (id, value) { var el = document.getElementById(id); if (el && value !== undefined && value !== null) el.textContent = value; };
    set("lesson-minutes", answer.lesson_minutes);
    set("course-minutes", answer.course_minutes);
    var bar = document.getElementById("course-bar");
    if (bar && answer.course_cap_minutes) bar.style.width = Math.floor(100 * answer.course_minutes / answer.course_cap_minutes) + "%";
    var meter = document.getElementById("course-progress");
    if (meter && answer.course_minutes !== undefined) meter.setAttribute("aria-valuenow", answer.course_minutes);
    var notice = document.getElementById("study-notice");
    if (notice) {
      notice.hidden = !answer.notice;
      notice.textContent = answer.notice || "";
    }
  }

  function post(url, body, keepalive) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", keepalive: !!keepalive,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    });
  }

  function stopHere() {
    // Set before pausing: the pause this causes must not be reported, nor open a session.
    superseded = true; session = null; queue = [];
    video.pause();
    if (elsewhere) elsewhere.hidden = false;
    say("");
  }

  function openSession() {
    if (superseded) return Promise.resolve(null);
    if (openPromise) return openPromise;
    openPromise = post(root.dataset.openUrl, {}).then(function (r) { return r.json(); }).then(function (answer) {
      if (!answer.ok) { say(answer.error || "无法开始播放"); return null; }
      session = answer.session; seq = 0;
      if (!resumed) { resumeAt = answer.position || 0; }
      show(answer);
      return session;
    }).catch(function () { say("网络连接中断，正在重试…"); return null; })
      .finally(function () { openPromise = null; });
    return openPromise;
  }

  function report(event, position) {
    // A periodic tick is "live": it reports where the player is when it is SENT, and a tick
    // still waiting behind a slow request is not queued twice. Stale positions sent in a burst
    // would look faster than the wall clock and earn nothing.
    if (superseded) return;
    var live = event === "tick" && position === undefined;
    var last = queue[queue.length - 1];
    if (live && last && last.live && (queue.length > 1 || !sending)) return;
    queue.push({ event: event, live: live,
                 position: position === undefined ? video.currentTime : position,
                 playing: event === "pause" || event === "ended" ? false : playing(),
                 rate: video.playbackRate });
    pump();
  }

  function send(body) {
    return post(root.dataset.beatUrl, body).then(function (r) {
      if (r.status >= 500 || r.status === 429) throw new Error("server " + r.status);
      return r.json().catch(function () { return { ok: false, error: "请求已失效，请刷新页面" }; });
    });
  }

  function pump() {
    if (sending || !queue.length) return;
    if (!session) { openSession().then(function (s) { if (s) pump(); }); return; }
    sending = true;
    var item = queue[0];
    var body = { lesson: lessonId, session: session, seq: ++seq,
                 position: item.live ? video.currentTime : item.position,
                 playing: item.live ? playing() : item.playing,
                 rate: item.live ? video.playbackRate : item.rate, event: item.event };
    var done = function (answer) {
      queue.shift(); sending = false; lostEvent = null;
      if (!answer.ok) { say(answer.error || ""); }
      else {
        show(answer);
        // Why part of this beat did not count (2x speed, a skip, ...); nothing for an ignored copy.
        say(answer.accepted === false ? "" : (answer.reasons || []).join("；"));
        if (answer.superseded) { stopHere(); return; }
        if (answer.closed) { session = null; queue = []; return; }
      }
      pump();
    };
    var lost = function () {
      // Keep the most telling lost event; report the current position later with a new seq.
      sending = false;
      var events = queue.map(function (q) { return q.event; });
      queue = [];
      lostEvent = events.indexOf("seek") >= 0 ? "seek" : (lostEvent || null);
      say("网络连接中断，恢复后继续记录…");
      clearTimeout(retryTimer);
      retryTimer = setTimeout(function () {
        report(lostEvent === "seek" ? "seek" : video.ended ? "ended" : playing() ? "tick" : "pause");
      }, 3000);
    };
    send(body).then(done, function () {
      // One retry of the very same beat: if the first copy did arrive, the server ignores this one.
      setTimeout(function () { send(body).then(done, lost); }, 1000);
    });
  }

  // readyState 0: a source being (re)loaded reports 0, which is not where the trainee was.
  video.addEventListener("timeupdate", function () {
    if (!video.seeking && !switching && video.readyState > 0) lastPos = video.currentTime;
  });
  video.addEventListener("playing", function () { resumed = true; wantPlay = true; report("start"); });
  video.addEventListener("pause", function () {
    if (!switching) wantPlay = false;
    if (!video.ended && !video.seeking && !switching) report("pause");
  });

  var wantPlay = false, refreshing = false, lastRefresh = 0;
  function refreshLinks() {
    var now = Date.now();
    if (refreshing || now - lastRefresh < 10000 || !root.dataset.mediaUrl) return;
    refreshing = true;
    lastRefresh = now;
    var at = lastPos, again = wantPlay;
    fetch(root.dataset.mediaUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        refreshing = false;
        if (!answer.ok || !answer.sources || !answer.sources.length) {
          say(answer.error || "视频加载失败，请刷新页面");
          return;
        }
        sources = answer.sources;
        switching = false;
        useRendition(select ? select.value : pickRendition(), again, at);
      }, function () { refreshing = false; say("网络中断，视频稍后重试"); });
  }
  video.addEventListener("error", refreshLinks);
  video.addEventListener("seeking", function () {
    if (switching) return;
    report("tick", lastPos);  // the play up to the seek still counts
    report("seek");
  });
  video.addEventListener("seeked", function () { lastPos = video.currentTime; });
  video.addEventListener("ended", function () { report("ended"); });
  video.addEventListener("play", function () {
    if (superseded) { video.pause(); return; }  // the button below takes over, not a click on play
    if (!session) openSession();
  });
  if (continueHere) continueHere.addEventListener("click", function () {
    superseded = false;
    if (elsewhere) elsewhere.hidden = true;
    openSession().then(function (s) { if (s) video.play().catch(function () { /* needs a click */ }); });
  });

  setInterval(function () { if (playing()) report("tick"); }, intervalMs);

  document.addEventListener("visibilitychange", function () {
    if (document.hidden && playing()) video.pause();
  });
  window.addEventListener("pagehide", function () {
    if (session && playing()) {
      post(root.dataset.beatUrl, { lesson: lessonId, session: session, seq: ++seq,
        position: video.currentTime, playing: false, rate: video.playbackRate, event: "pause" }, true);
    }
  });

  if (select) select.addEventListener("change", function () {
    try { localStorage.setItem("xt-rendition", select.value); } catch (e) { /* private mode */ }
    useRendition(select.value, playing());
  });

  // The video loads while the session opens (one round trip less before the first frame on a
  // slow link); the position to resume at is applied by whichever of the two finishes last.
  if (sources.length) useRendition(pickRendition(), false);
  openSession().then(function () {
    if (!resumed && resumeAt > 0 && !switching && video.readyState > 0 && video.currentTime < 1) {
      lastPos = resumeAt;
      video.currentTime = resumeAt;
    }
  });
})();
