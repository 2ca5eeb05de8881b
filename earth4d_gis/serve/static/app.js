/* The Earth4D live map: one Leaflet tile layer whose URL follows the mode, style and dates. */
(function () {
  "use strict";

  const DAY_MS = 86400000;
  const SLIDER_FIRST = "2017-01-01"; // AlphaEarth's first annual layer
  const SLIDER_LAST = "2025-12-31";
  const $ = (id) => document.getElementById(id);

  const state = { mode: "map", style: "rgb", date: null, to: null, point: null, info: null };
  let map, layer, marker, extentBox;

  const toDay = (date) => date.toISOString().slice(0, 10);
  const parseDay = (text) => new Date(text + "T00:00:00Z");
  const clampDay = (text, low, high) => (text < low ? low : text > high ? high : text);

  function setStatus(message, isError) {
    const status = $("status");
    status.textContent = message || "";
    status.classList.toggle("error", Boolean(isError));
  }

  function tileUrl() {
    const base = "tiles/{z}/{x}/{y}";
    if (state.mode === "change") {
      return `${base}/change.png?from=${state.date}&to=${state.to}`;
    }
    if (state.mode === "similarity" && state.point) {
      const [lat, lon] = state.point;
      return `${base}/similarity.png?date=${state.date}&lat=${lat.toFixed(6)}&lon=${lon.toFixed(6)}`;
    }
    return `${base}.png?date=${state.date}&style=${state.style}`;
  }

  function refreshLayer() {
    const url = tileUrl();
    if (layer._url !== url) {
      layer.setUrl(url);
    }
    updateLegend();
  }

  function updateLegend() {
    const legend = $("legend");
    const scalar = state.mode === "change" || (state.mode === "similarity" && state.point);
    legend.classList.toggle("hidden", !scalar);
    if (state.mode === "change") {
      $("legend-bar").style.background =
        "linear-gradient(90deg,#000004,#420a68,#932667,#dd513a,#fca50a,#fcffa4)";
      $("legend-title").textContent = "1 − cosine (change)";
    } else {
      $("legend-bar").style.background =
        "linear-gradient(90deg,#440154,#414487,#2a788e,#22a884,#7ad151,#fde725)";
      $("legend-title").textContent = "cosine similarity";
    }
  }

  function setMode(mode) {
    state.mode = mode;
    document.querySelectorAll(".modes button").forEach((b) => b.classList.toggle("active", b.dataset.mode === mode));
    $("style-group").classList.toggle("hidden", mode !== "map");
    $("to-group").classList.toggle("hidden", mode !== "change");
    $("similarity-help").classList.toggle("hidden", mode !== "similarity");
    $("date-caption").textContent = mode === "change" ? "From" : "Date";
    if (mode === "similarity" && !state.point) {
      const c = map.getCenter();
      showPoint(c.lat, c.lng);
    }
    refreshLayer();
  }

  function setStyle(style) {
    state.style = style;
    document.querySelectorAll("#style-switch button").forEach((b) => b.classList.toggle("active", b.dataset.style === style));
    refreshLayer();
  }

  /* A slider and a date box kept in step; onChange(day) when the user settles on a date. */
  function bindDate(slider, box, first, last, initial, onChange) {
    const origin = parseDay(first).getTime();
    slider.min = 0;
    slider.max = Math.round((parseDay(last).getTime() - origin) / DAY_MS);
    box.min = first;
    box.max = last;
    const show = (day) => {
      slider.value = Math.round((parseDay(day).getTime() - origin) / DAY_MS);
      box.value = day;
    };
    show(initial);
    let timer = null;
    slider.addEventListener("input", () => {
      const day = toDay(new Date(origin + Number(slider.value) * DAY_MS));
      box.value = day;
      clearTimeout(timer);
      timer = setTimeout(() => onChange(day), 250);
    });
    slider.addEventListener("change", () => {
      clearTimeout(timer);
      onChange(toDay(new Date(origin + Number(slider.value) * DAY_MS)));
    });
    box.addEventListener("change", () => {
      if (!box.value) return;
      const day = clampDay(box.value, first, last);
      show(day);
      onChange(day);
    });
  }

  async function showPoint(lat, lon) {
    lon = ((((lon + 180) % 360) + 360) % 360) - 180;
    state.point = [lat, lon];
    if (!marker) {
      marker = L.circleMarker([lat, lon], { radius: 7, color: "#ffffff", weight: 2, fillColor: "#4fd1a5", fillOpacity: 0.9 }).addTo(map);
    } else {
      marker.setLatLng([lat, lon]);
    }
    if (state.mode === "similarity") refreshLayer();
    $("point-text").textContent = `${lat.toFixed(5)}, ${lon.toFixed(5)} …`;
    try {
      const response = await fetch(`point?lat=${lat}&lon=${lon}&date=${state.date}`);
      const body = await response.json();
      if (!response.ok) throw new Error(body.detail || response.statusText);
      if (body.rgb) $("swatch").style.background = `rgb(${body.rgb.join(",")})`;
      const a = body.embedding;
      $("point-text").textContent =
        `${lat.toFixed(5)}, ${lon.toFixed(5)} · ${body.date} · A01 ${a[1].toFixed(2)} A16 ${a[16].toFixed(2)} A09 ${a[9].toFixed(2)}`;
    } catch (err) {
      $("point-text").textContent = `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
      setStatus(String(err.message || err), true);
    }
  }

  function fact(label, value) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    $("model-facts").append(dt, dd);
  }

  function describe(info) {
    $("model-name").textContent = `${info.name} · ${info.fingerprint.slice(0, 12)}`;
    document.title = `Earth4D · ${info.name}`;
    fact("Time span", `${info.time_span[0]} – ${info.time_span[1]}`);
    if (info.extent) fact("Trained on", info.extent.map((v) => v.toFixed(2)).join(", ") + " (W S E N)");
    const m = info.metrics || {};
    if (m.test_cosine !== undefined) fact("Test cosine", Number(m.test_cosine).toFixed(4));
    if (m.test_mape_percent !== undefined) fact("Test MAPE", `${Number(m.test_mape_percent).toFixed(3)} %`);
    if (m.best_knn_cosine !== undefined) fact("Best kNN cosine", Number(m.best_knn_cosine).toFixed(4));
    if (m.training_samples !== undefined) fact("Samples", Number(m.training_samples).toLocaleString("en"));
    if (m.verdict) fact("Verdict", m.verdict);
    fact("Pixels", info.oversample
      ? `mean of up to ${4 ** info.oversample} predictions inside each`
      : "mean of the predictions at their 4 corners" + (info.refine_tolerance !== null ? " (smooth areas interpolated)" : ""));
    fact("Software", `earth4d-gis ${info.software_version}`);
  }

  async function start() {
    map = L.map("map", { zoomControl: false, worldCopyJump: true, minZoom: 2, maxZoom: 18 });
    L.control.zoom({ position: "topright" }).addTo(map);
    L.control.scale({ position: "bottomright", imperial: false }).addTo(map);
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');

    const response = await fetch("api/info");
    const info = await response.json();
    state.info = info;
    describe(info);

    const first = clampDay(SLIDER_FIRST, info.time_span[0], info.time_span[1]);
    const last = clampDay(SLIDER_LAST, info.time_span[0], info.time_span[1]);
    state.date = clampDay(info.default_date, first, last);
    state.to = clampDay(toDay(new Date(parseDay(state.date).getTime() - 365 * DAY_MS * 2)), first, last);
    if (state.to === state.date) state.to = last;
    if (!info.has_rgb) {
      state.style = "bands";
      document.querySelector('#style-switch [data-style="rgb"]').disabled = true;
    }

    layer = L.tileLayer(tileUrl(), {
      tileSize: 256, maxZoom: 18, attribution: info.attribution, updateWhenIdle: true, keepBuffer: 1,
    });
    layer.on("loading", () => setStatus("computing tiles…"));
    layer.on("load", () => setStatus(""));
    layer.on("tileerror", () => setStatus("a tile failed; see the server log", true));
    layer.addTo(map);

    if (info.extent) {
      const [w, s, e, n] = info.extent;
      extentBox = L.rectangle([[s, w], [n, e]], { color: "#4fd1a5", weight: 1.5, fill: false, dashArray: "6 6", interactive: false }).addTo(map);
      L.marker([n, w], {
        interactive: false,
        icon: L.divIcon({ className: "extent-label", html: "training data", iconSize: [90, 14], iconAnchor: [-4, 16] }),
      }).addTo(map);
      map.fitBounds(extentBox.getBounds(), { paddingTopLeft: [320, 20], maxZoom: 12 });
    } else {
      map.setView([20, 0], 2);
    }

    bindDate($("date-slider"), $("date-box"), first, last, state.date, (day) => { state.date = day; refreshLayer(); });
    bindDate($("to-slider"), $("to-box"), first, last, state.to, (day) => { state.to = day; refreshLayer(); });
    document.querySelectorAll(".modes button").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
    document.querySelectorAll("#style-switch button").forEach((b) => b.addEventListener("click", () => setStyle(b.dataset.style)));
    map.on("click", (event) => showPoint(event.latlng.lat, event.latlng.lng));
    updateLegend();
    document.body.dataset.ready = "true";
  }

  start().catch((err) => setStatus(`cannot reach the server: ${err.message || err}`, true));
})();
