/* Chunked, resumable lecture upload (no framework).
 *
 * Markup: <div class="upload" data-start-url="..."> with a file input, a .upload-go button, a
 * progress.upload-bar, .upload-text and .upload-error. The server answers JSON:
 *   POST start_url (size, filename)            -> {token, chunk_size, next_index, received, ...}
 *   POST start_url/<token>/<index> (raw chunk,  -> the same, after the chunk is stored
 *        header X-Chunk-SHA256)
 *   GET  start_url/<token>                     -> where the upload stands (to resume)
 *   POST start_url/<token>/finish              -> {ok, status_url} or {error}
 * A dropped connection is retried with growing pauses and resumes at the server's next_index;
 * choosing the same file again after a reload resumes too.
 */
(function () {
  "use strict";

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; }
    catch (e) { return ""; }
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function mb(n) { return (n / 1048576).toFixed(1) + " MB"; }

  // SHA-256: WebCrypto where the page is a secure context, else a small fallback.
  var K = [0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7,
    0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc,
    0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351,
    0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e,
    0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585,
    0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
    0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2];

  function sha256Fallback(bytes) {
    var len = bytes.length, total = ((len + 9 + 63) >> 6) << 6;
    var m = new Uint8Array(total); m.set(bytes); m[len] = 0x80;
    var bits = len * 8, dv = new DataView(m.buffer);
    dv.setUint32(total - 8, Math.floor(bits / 4294967296)); dv.setUint32(total - 4, bits >>> 0);
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var w = new Uint32Array(64);
    for (var off = 0; off < total; off += 64) {
      for (var i = 0; i < 16; i++) w[i] = dv.getUint32(off + i * 4);
      for (i = 16; i < 64; i++) {
        var a = w[i - 15], b = w[i - 2];
        var s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        var s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      var A = h[0], B = h[1], C = h[2], D = h[3], E = h[4], F = h[5], G = h[6], H = h[7];
      for (i = 0; i < 64; i++) {
        var S1 = ((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7));
        var t1 = (H + S1 + ((E & F) ^ (~E & G)) + K[i] + w[i]) | 0;
        var S0 = ((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10));
        var t2 = (S0 + ((A & B) ^ (A & C) ^ (B & C))) | 0;
        H = G; G = F; F = E; E = (D + t1) | 0; D = C; C = B; B = A; A = (t1 + t2) | 0;
      }
      h[0] = (h[0] + A) | 0; h[1] = (h[1] + B) | 0; h[2] = (h[2] + C) | 0; h[3] = (h[3] + D) | 0;
      h[4] = (h[4] + E) | 0; h[5] = (h[5] + F) | 0; h[6] = (h[6] + G) | 0; h[7] = (h[7] + H) | 0;
    }
    return h.map(function (x) { return ("00000000" + (x >>> 0).toString(16)).slice(-8); }).join("");
  }

  function sha256(buffer) {
    if (window.crypto && crypto.subtle) {
      return crypto.subtle.digest("SHA-256", buffer).then(function (d) {
        return Array.from(new Uint8Array(d)).map(function (b) {
          return ("0" + b.toString(16)).slice(-2);
        }).join("");
      });
    }
    return Promise.resolve(sha256Fallback(new Uint8Array(buffer)));
  }

  // fetch that gives {status, body} for any HTTP answer and throws only on a network failure.
  function call(method, url, body, headers) {
    headers = headers || {};
    headers["X-CSRFToken"] = csrfToken();
    return fetch(url, {method: method, body: body, headers: headers, credentials: "same-origin"})
      .then(function (r) {
        return r.json().catch(function () { return {error: "服务器返回了无法识别的应答（" + r.status + "）"}; })
          .then(function (data) { return {status: r.status, body: data}; });
      });
  }

  // Repeat a network call until it gets an HTTP answer, telling the user while it waits.
  async function persist(fn, ui) {
    var pause = 1000;
    for (;;) {
      try { return await fn(); }
      catch (e) {
        ui.text("网络中断，" + Math.round(pause / 1000) + " 秒后自动续传…");
        await sleep(pause);
        pause = Math.min(pause * 2, 30000);
      }
    }
  }

  function widget(box) {
    var bar = box.querySelector(".upload-bar"), text = box.querySelector(".upload-text"),
      err = box.querySelector(".upload-error"), go = box.querySelector(".upload-go");
    return {
      text: function (t) { text.textContent = t; },
      progress: function (sent, total) {
        bar.hidden = false; bar.max = total; bar.value = sent;
        text.textContent = "已上传 " + mb(sent) + " / " + mb(total) + "（" + Math.floor(sent * 100 / total) + "%）";
      },
      error: function (msg) { err.textContent = msg; err.hidden = !msg; },
      busy: function (b) { go.disabled = b; }
    };
  }

  async function upload(box) {
    var input = box.querySelector("input[type=file]"), ui = widget(box);
    var file = input.files && input.files[0];
    ui.error("");
    if (!file) { ui.error("请先选择视频文件。"); return; }
    if (file.size === 0) { ui.error("文件为空（0 字节），请重新选择视频文件。"); return; }
    var start = box.getAttribute("data-start-url");
    ui.busy(true);
    try {
      var form = new FormData();
      form.append("size", String(file.size));
      form.append("filename", file.name);
      var answer = await persist(function () { return call("POST", start, form); }, ui);
      if (answer.status !== 200) { ui.error(answer.body.error || "无法开始上传。"); return; }
      var session = answer.body, base = start + "/" + session.token;
      var index = session.next_index, size = session.chunk_size;
      ui.progress(session.received, file.size);
      var checksumRetries = 0;
      while (index < session.chunk_count) {
        var buffer = await file.slice(index * size, Math.min(file.size, (index + 1) * size)).arrayBuffer();
        var digest = await sha256(buffer);
        var sent = await persist(function () {
          return call("POST", base + "/" + index, buffer,
                      {"X-Chunk-SHA256": digest, "Content-Type": "application/octet-stream"});
        }, ui);
        if (sent.status === 200) {
          index = sent.body.next_index; checksumRetries = 0;
          ui.progress(sent.body.received, file.size);
          continue;
        }
        // Out of step with the server (e.g. an answer lost in a dropped link): ask where it stands.
        var where = await persist(function () { return call("GET", base); }, ui);
        if (where.status === 200 && where.body.next_index !== index) { index = where.body.next_index; continue; }
        if (++checksumRetries > 3 || where.status !== 200) { ui.error(sent.body.error || "上传失败。"); return; }
      }
      ui.text("上传完成，正在检查视频内容…");
      var done = await persist(function () { return call("POST", base + "/finish"); }, ui);
      if (done.status !== 200) { ui.error(done.body.error || "视频检查未通过。"); ui.text(""); return; }
      ui.text("上传完成，已加入转码队列。");
      var target = box.closest(".lesson-status");
      if (window.htmx && target) {
        htmx.ajax("GET", done.body.status_url, {target: "#" + target.id, swap: "outerHTML"});
      }
    } finally {
      ui.busy(false);
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".upload-go");
    if (button) { upload(button.closest(".upload")); }
  });
})();
