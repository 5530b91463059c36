// tagloop pages: every change goes through the native API (/api/v1) on the session's key.
// No build step, no dependencies. Each page's behaviour starts from data-* attributes.
"use strict";

const UI_HEADER = { "X-Tagloop-UI": "1" };

// ---------------------------------------------------------------------------------------
// API calls and messages

class ApiError extends Error {}

async function api(method, url, body) {
  const init = { method, headers: { ...UI_HEADER }, credentials: "same-origin" };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError("The server did not answer; is tagloop still running?");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (err) { data = null; }
  }
  if (!response.ok) {
    const message = (data && (data.error || data.message)) || `${response.status} ${response.statusText}`;
    const error = new ApiError(message);
    error.status = response.status;
    error.code = data && data.code;
    throw error;
  }
  return data;
}

function toast(message, kind = "error") {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 9000 : 4000);
}

function report(err) {
  toast(err instanceof ApiError ? err.message : `Unexpected error: ${err}`);
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(values[key] ?? ""));
}

function then(spec, result) {
  if (!spec || spec === "reload") {
    window.location.reload();
  } else if (spec.startsWith("go:")) {
    window.location.assign(fill(spec.slice(3), result || {}));
  }
}

function parseCall(spec) {
  const space = spec.indexOf(" ");
  return [spec.slice(0, space), spec.slice(space + 1)];
}

// <button data-api="METHOD /url" [data-confirm="..."] [data-then="reload|go:/x/{id}"]>
function wireButtons(root) {
  root.querySelectorAll("button[data-api]").forEach((button) => {
    button.addEventListener("click", async () => {
      if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
      const [method, url] = parseCall(button.dataset.api);
      button.disabled = true;
      try {
        const result = await api(method, url, method === "POST" ? {} : undefined);
        then(button.dataset.then, result);
      } catch (err) {
        report(err);
        button.disabled = false;
      }
    });
  });
}

// <form data-form="METHOD /url" data-then="..."> sends its fields as a JSON object. A checkbox
// sends its value when checked and data-unchecked (if any) when not.
function formObject(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled) continue;
    if (field.type === "checkbox") {
      const value = field.checked ? field.value : field.dataset.unchecked;
      if (value !== undefined) body[field.name] = value === "true" ? true : value === "false" ? false : value;
    } else if (field.type === "radio") {
      if (field.checked) body[field.name] = field.value;
    } else if (field.value !== "") {
      body[field.name] = field.value;
    }
  }
  return body;
}

function wireForms(root) {
  root.querySelectorAll("form[data-form]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const [method, url] = parseCall(form.dataset.form);
      const submit = form.querySelector("[type=submit]");
      if (submit) submit.disabled = true;
      try {
        then(form.dataset.then, await api(method, url, formObject(form)));
      } catch (err) {
        report(err);
        if (submit) submit.disabled = false;
      }
    });
  });
}

function wireCopy(root) {
  root.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const text = document.querySelector(button.dataset.copy).textContent;
      try {
        await navigator.clipboard.writeText(text);
        toast("Copied.", "ok");
      } catch (err) {
        const range = document.createRange();
        range.selectNodeContents(document.querySelector(button.dataset.copy));
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        toast("Selected: press Ctrl+C to copy.", "ok");
      }
    });
  });
}

function wireAutosubmit(root) {
  root.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
}

// A drop target that is also a keyboard button opening a file input.
function dropTarget(zone, input, onFiles) {
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
  });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    onFiles(await droppedFiles(event.dataTransfer));
  });
}

// Files from a drop, folders walked (webkitGetAsEntry), in a stable order.
async function droppedFiles(transfer) {
  const entries = [...transfer.items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
  if (!entries.length) return [...transfer.files];
  const files = [];
  async function walk(entry) {
    if (entry.isFile) {
      files.push(await new Promise((resolve, reject) => entry.file(resolve, reject)));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      let batch;
      do {
        batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        for (const child of batch) await walk(child);
      } while (batch.length);
    }
  }
  for (const entry of entries) await walk(entry);
  return files;
}

// ---------------------------------------------------------------------------------------
// Training images: upload, selection, bulk actions

const SUMMARY_KEY = "tagloop.upload-summary";
const IMAGE_NAME = /\.(jpe?g|png|webp|bmp|gif|tiff?)$/i;

function initImages() {
  const form = document.getElementById("upload");
  const project = document.body.dataset.project;
  const status = document.getElementById("upload-status");
  const batch = Number(form.dataset.batch);
  const maxBytes = Number(form.dataset.maxBytes);

  async function upload(files) {
    const wanted = files.filter((f) => IMAGE_NAME.test(f.name) || (f.type || "").startsWith("image/"));
    const skipped = files.length - wanted.length;
    if (!wanted.length) { toast("None of those files is an image."); return; }
    const tagIds = [...form.querySelectorAll("input[name=upload-tag]:checked")].map((c) => c.value);
    const query = tagIds.length ? `?tag_ids=${encodeURIComponent(tagIds.join(","))}` : "";
    const summary = { added: 0, duplicates: 0, failed: [], skipped };
    const tooBig = wanted.filter((f) => f.size > maxBytes);
    tooBig.forEach((f) => summary.failed.push([f.name, `larger than ${(maxBytes / 1048576).toFixed(1)} MB`]));
    const todo = wanted.filter((f) => f.size <= maxBytes);
    for (let start = 0; start < todo.length; start += batch) {
      status.textContent = `Uploading ${Math.min(start + batch, todo.length)} of ${todo.length}…`;
      const body = new FormData();
      todo.slice(start, start + batch).forEach((f) => body.append("files", f, f.webkitRelativePath || f.name));
      try {
        const result = await api("POST", `/api/v1/projects/${project}/images${query}`, body);
        for (const item of result.images) {
          if (item.status === "OK") summary.added += 1;
          else if (item.status === "OKDuplicate") summary.duplicates += 1;
          else summary.failed.push([item.source, item.reason || item.status]);
        }
      } catch (err) {
        todo.slice(start, start + batch).forEach((f) => summary.failed.push([f.name, err.message]));
      }
    }
    sessionStorage.setItem(SUMMARY_KEY, JSON.stringify(summary));
    window.location.reload();
  }

  const fileInput = document.getElementById("file-input");
  const folderInput = document.getElementById("folder-input");
  dropTarget(document.getElementById("dropzone"), fileInput, upload);
  fileInput.addEventListener("change", () => upload([...fileInput.files]));
  folderInput.addEventListener("change", () => upload([...folderInput.files]));
  showUploadSummary();
  initBulk(project);
}

function showUploadSummary() {
  const raw = sessionStorage.getItem(SUMMARY_KEY);
  if (!raw) return;
  sessionStorage.removeItem(SUMMARY_KEY);
  const summary = JSON.parse(raw);
  const box = document.getElementById("upload-summary");
  const parts = [`${summary.added} added`];
  if (summary.duplicates) parts.push(`${summary.duplicates} already in the project`);
  if (summary.failed.length) parts.push(`${summary.failed.length} skipped`);
  if (summary.skipped) parts.push(`${summary.skipped} files that are not images ignored`);
  const head = document.createElement("p");
  head.innerHTML = `<strong>Upload finished:</strong> `;
  head.append(parts.join(", ") + ".");
  box.replaceChildren(head);
  if (summary.failed.length) {
    const list = document.createElement("ul");
    list.className = "skipped";
    for (const [name, reason] of summary.failed) {
      const li = document.createElement("li");
      const strong = document.createElement("strong");
      strong.textContent = name;
      li.append(strong, `: ${reason}`);
      list.append(li);
    }
    box.append(list);
  }
  box.hidden = false;
}

function initBulk(project) {
  const grid = document.getElementById("image-grid");
  if (!grid) return;
  const picks = [...grid.querySelectorAll("input.pick")];
  const all = document.getElementById("select-all");
  const count = document.getElementById("n-selected");
  const buttons = [...document.querySelectorAll("button[data-bulk]")];
  const selected = () => picks.filter((p) => p.checked).map((p) => p.value);
  function update() {
    const n = selected().length;
    count.textContent = `${n} selected`;
    const noTag = !document.getElementById("bulk-tag").value;
    buttons.forEach((b) => {
      // A control that cannot work says why (its title, shown on hover and read out).
      const why = n === 0 ? "Select images first" : b.dataset.bulk !== "delete" && noTag ? "Create a tag first" : "";
      b.disabled = Boolean(why);
      b.title = why || b.dataset.title || "";
    });
    all.checked = n === picks.length;
    picks.forEach((p) => p.closest(".tile").classList.toggle("picked", p.checked));
  }
  picks.forEach((p) => p.addEventListener("change", update));
  all.addEventListener("change", () => { picks.forEach((p) => { p.checked = all.checked; }); update(); });
  buttons.forEach((button) => button.addEventListener("click", async () => {
    const ids = selected();
    const tag = document.getElementById("bulk-tag").value;
    const base = `/api/v1/projects/${project}/images`;
    try {
      if (button.dataset.bulk === "tag") {
        // A multiclass project's image has one tag: tagging replaces it.
        await api("POST", `${base}/tags`, { image_ids: ids, tag_ids: [tag], replace: "replace" in button.dataset });
      }
      if (button.dataset.bulk === "untag") await api("POST", `${base}/untag`, { image_ids: ids, tag_ids: [tag] });
      if (button.dataset.bulk === "delete") {
        if (!window.confirm(`Delete ${ids.length} images? Iterations keep what they trained on.`)) return;
        await api("POST", `${base}/delete`, { image_ids: ids });
      }
      window.location.reload();
    } catch (err) {
      report(err);
    }
  }));
  update();
}

// ---------------------------------------------------------------------------------------
// Train: start (asking before a forced retrain), live progress

const SEVERITY_WORDS = { error: "Error", warning: "Warning", info: "Note" };
const SHOWN_IMAGES = 12;

function thumbnail(project, imageId, caption) {
  const figure = document.createElement("figure");
  const img = document.createElement("img");
  img.src = `/api/v1/projects/${project}/images/${encodeURIComponent(imageId)}/thumbnail`;
  img.alt = caption || "image";
  img.width = 72;
  img.height = 72;
  figure.append(img);
  if (caption) {
    const text = document.createElement("figcaption");
    text.textContent = caption;
    figure.append(text);
  }
  return figure;
}

function renderFinding(project, finding) {
  const li = document.createElement("li");
  li.className = `finding ${finding.severity}`;
  li.dataset.code = finding.code;
  const head = document.createElement("p");
  const strong = document.createElement("strong");
  strong.textContent = `${SEVERITY_WORDS[finding.severity] || finding.severity}: `;
  head.append(strong, finding.message);
  const advice = document.createElement("p");
  advice.className = "advice";
  advice.textContent = finding.advice;
  li.append(head, advice);
  const strip = document.createElement("div");
  strip.className = "strip";
  for (const item of (finding.items || []).slice(0, SHOWN_IMAGES)) {
    if (typeof item === "string") {
      strip.append(thumbnail(project, item));
    } else if (item.suggested_label) {
      strip.append(thumbnail(project, item.path, `${item.label} → ${item.suggested_label}?`));
    } else if (item.labels) {
      strip.append(thumbnail(project, item.path, item.labels.join(" + ")));
    } else if (item.tag) {
      strip.append(thumbnail(project, item.path, item.tag));
    } else {
      strip.append(thumbnail(project, item.path, item.reason || ""));
    }
  }
  for (const group of (finding.groups || []).slice(0, SHOWN_IMAGES / 3)) {
    const set = document.createElement("div");
    set.className = "copies";
    group.slice(0, 4).forEach((id) => set.append(thumbnail(project, id)));
    strip.append(set);
  }
  if (strip.childElementCount) li.append(strip);
  const more = (finding.items || []).length + (finding.groups || []).length - strip.childElementCount;
  if (more > 0) {
    const note = document.createElement("p");
    note.className = "muted small";
    note.textContent = `and ${more} more (GET ${document.getElementById("insights").dataset.insights} lists them all)`;
    li.append(note);
  }
  return li;
}

// The data check runs once per page view (the server keeps the report until the data changes).
let insightsReport = null;

async function loadInsights() {
  const panel = document.getElementById("insights");
  const status = document.getElementById("insights-status");
  if (!panel || status.textContent.startsWith("Nothing")) return null;
  const project = document.body.dataset.project;
  try {
    insightsReport = await api("GET", panel.dataset.insights);
  } catch (err) {
    status.textContent = `The data check failed: ${err.message}`;
    return null;
  }
  const list = document.getElementById("findings");
  list.replaceChildren(...insightsReport.findings.map((f) => renderFinding(project, f)));
  const errors = insightsReport.findings.filter((f) => f.severity === "error").length;
  status.textContent = insightsReport.findings.length
    ? `${insightsReport.n_images} images: ${errors} errors, ${insightsReport.findings.length - errors} other findings`
    : `${insightsReport.n_images} images: nothing to fix`;
  panel.dataset.loaded = "true";
  return insightsReport;
}

// The train form: quick, or advanced within a budget in minutes. The data check's errors are
// shown first; a 409 "nothing changed" offers to train anyway.
function trainBody(form) {
  const advanced = form.elements.training_type.value === "advanced";
  if (!advanced) return {};
  return { training_type: "advanced", budget_seconds: 60 * Number(form.elements.budget_minutes.value) };
}

function initTrain() {
  const checking = loadInsights();
  const form = document.getElementById("train-form");
  if (form) {
    const budget = form.elements.budget_minutes;
    const syncBudget = () => {
      budget.disabled = form.elements.training_type.value !== "advanced";
      budget.title = budget.disabled ? "Only Advanced training takes a budget" : "";
    };
    form.querySelectorAll("input[name=training_type]").forEach((radio) => radio.addEventListener("change", syncBudget));
    syncBudget();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!form.reportValidity()) return;
      const submit = form.querySelector("[type=submit]");
      const checked = insightsReport || (await Promise.race([checking, new Promise((r) => setTimeout(r, 300))]));
      const errors = checked ? checked.findings.filter((f) => f.severity === "error") : [];
      if (errors.length && !window.confirm(
        `The data check found ${errors.length} error(s):\n\n${errors.map((f) => `- ${f.message}`).join("\n")}\n\nTrain anyway?`)) {
        document.getElementById("insights").scrollIntoView();
        return;
      }
      const body = trainBody(form);
      submit.disabled = true;
      try {
        await api("POST", form.dataset.url, body);
        window.location.reload();
      } catch (err) {
        if (err.code === "training_not_needed" && window.confirm(`${err.message}\n\nTrain again anyway?`)) {
          try { await api("POST", form.dataset.url, { ...body, force: true }); window.location.reload(); return; } catch (again) { report(again); }
        } else {
          report(err);
        }
        submit.disabled = false;
      }
    });
  }
  document.querySelectorAll("[data-progress]").forEach((box) => pollProgress(box));
}

function pollProgress(box) {
  const bar = box.querySelector("progress");
  const stage = box.querySelector(".stage");
  const detail = box.querySelector(".detail");
  async function tick() {
    try {
      const it = await api("GET", box.dataset.progress);
      if (it.status !== "Training") { window.location.reload(); return; }
      if (it.progress) {
        stage.textContent = it.progress.total ? `${it.progress.stage} ${it.progress.done}/${it.progress.total}` : it.progress.stage;
        detail.textContent = it.progress.detail || "";
        bar.max = Math.max(1, it.progress.total);
        bar.value = it.progress.done;
      }
    } catch (err) {
      report(err);
    }
    setTimeout(tick, 1000);
  }
  setTimeout(tick, 1000);
}

// ---------------------------------------------------------------------------------------
// Performance: the threshold slider updates every number shown

function percent(value, digits = 1) {
  return value === null || value === undefined ? "–" : `${(100 * value).toFixed(digits)}%`;
}

function initPerformance() {
  const slider = document.getElementById("threshold");
  if (!slider) return;
  const output = document.getElementById("threshold-value");
  let timer = null;
  let generation = 0;
  document.body.dataset.threshold = slider.value;
  // While the slider moves: every number and matrix cell from the performance route at the
  // new threshold. When it is let go: the page again at that threshold, so the images shown
  // and their outlines follow too (one evaluation on the server behind all of it).
  async function refresh() {
    const mine = ++generation;
    const threshold = Number(slider.value);
    for (const panel of document.querySelectorAll("[data-perf]")) {
      try {
        const perf = await api("GET", `${panel.dataset.perf}?threshold=${threshold}`);
        if (mine !== generation) return;
        panel.querySelectorAll(".metrics [data-metric]").forEach((cell) => {
          cell.textContent = percent(perf.overall[cell.dataset.metric]);
        });
        for (const tag of perf.per_tag) {
          const row = panel.querySelector(`tr[data-tag="${tag.id}"]`);
          if (!row) continue;
          row.querySelectorAll("[data-metric]").forEach((cell) => { cell.textContent = percent(tag[cell.dataset.metric]); });
          row.querySelectorAll("[data-count]").forEach((cell) => { cell.textContent = tag[cell.dataset.count]; });
        }
        const cm = perf.report.confusion_matrix;
        cm.matrix.forEach((row, i) => {
          [...row, cm.no_label[i]].forEach((n, j) => {
            const cell = panel.querySelector(`td[data-cell="${i}-${j}"]`);
            if (!cell) return;
            const link = cell.querySelector("a");
            if (link) link.textContent = n; else cell.textContent = n;
          });
        });
      } catch (err) {
        report(err);
      }
    }
    document.body.dataset.threshold = slider.value;
  }
  slider.addEventListener("input", () => {
    output.textContent = percent(Number(slider.value), 0);
    clearTimeout(timer);
    timer = setTimeout(refresh, 120);
  });
  slider.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set("threshold", slider.value);
    url.searchParams.delete("page");
    url.hash = "";
    window.location.replace(url.toString());
  });
}

// ---------------------------------------------------------------------------------------
// Predictions: choose the right tag and save into training

function initPredictions() {
  const project = document.body.dataset.project;
  const saved = document.getElementById("n-saved");
  let nSaved = 0;
  document.querySelectorAll(".review-item form").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const item = form.closest(".review-item");
      const checked = [...form.querySelectorAll("input:checked")];
      if (!checked.length) { toast("Choose a tag first."); return; }
      const button = form.querySelector("[type=submit]");
      button.disabled = true;
      try {
        const tagIds = [];
        for (const input of checked) {
          if (input.value === "negative") {
            const tag = await api("POST", `/api/v1/projects/${project}/tags`, { name: "Negative", type: "Negative" });
            document.querySelectorAll("input[data-negative]").forEach((i) => { i.value = tag.id; });
            tagIds.push(tag.id);
          } else {
            tagIds.push(input.value);
          }
        }
        if (item.dataset.kind === "prediction") {
          const result = await api("POST", `/api/v1/projects/${project}/predictions/promote`, {
            items: [{ prediction_id: item.dataset.id, tag_ids: tagIds }],
          });
          const status = result.images[0];
          if (!["OK", "OKDuplicate"].includes(status.status)) throw new ApiError(status.reason || status.status);
        } else {
          await api("POST", `/api/v1/projects/${project}/images/tags`, { image_ids: [item.dataset.id], tag_ids: tagIds });
        }
        item.remove();
        nSaved += 1;
        saved.textContent = `${nSaved} saved to training; train again to use them.`;
      } catch (err) {
        report(err);
        button.disabled = false;
      }
    });
  });
}

// ---------------------------------------------------------------------------------------
// Heat-maps: a toggle swaps each marked thumbnail for the model's heat-map overlay

function wireHeatmaps(root) {
  root.querySelectorAll("[data-heatmap-toggle]").forEach((box) => {
    box.addEventListener("change", () => {
      document.querySelectorAll("img[data-heatmap]").forEach((img) => {
        if (!img.dataset.thumb) img.dataset.thumb = img.getAttribute("src");
        img.src = box.checked ? img.dataset.heatmap : img.dataset.thumb;
      });
    });
  });
}

async function fetchHeatmap(url, body) {
  const response = await fetch(url, { method: "POST", headers: { ...UI_HEADER }, credentials: "same-origin", body });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (err) { /* not JSON */ }
    throw new ApiError(message);
  }
  return URL.createObjectURL(await response.blob());
}

// ---------------------------------------------------------------------------------------
// Quick test

function initQuickTest() {
  const form = document.getElementById("quicktest");
  if (!form) return;
  const project = document.body.dataset.project;
  const input = document.getElementById("qt-file");
  const maxBytes = Number(form.dataset.maxBytes);
  const heat = document.getElementById("qt-heat");
  let lastFile = null;
  let photoUrl = null;
  async function showHeat() {
    const image = document.getElementById("qt-image");
    if (!heat.checked || !lastFile) { if (photoUrl) image.src = photoUrl; return; }
    const body = new FormData();
    body.append("imageData", lastFile, lastFile.name);
    const iteration = document.getElementById("qt-iteration").value;
    try {
      image.src = await fetchHeatmap(`/api/v1/projects/${project}/quicktest/heatmap?iteration_id=${iteration}`, body);
    } catch (err) {
      heat.checked = false;
      report(err);
    }
  }
  heat.addEventListener("change", showHeat);
  async function test(files) {
    const file = files[0];
    if (!file) return;
    if (file.size > maxBytes) { toast(`The photo is larger than ${(maxBytes / 1048576).toFixed(1)} MB.`); return; }
    const iteration = document.getElementById("qt-iteration").value;
    const store = document.getElementById("qt-store").checked;
    const body = new FormData();
    body.append("imageData", file, file.name);
    const note = document.getElementById("qt-note");
    note.textContent = "Classifying…";
    try {
      const answer = await api("POST", `/api/v1/projects/${project}/quicktest?iteration_id=${iteration}&store=${store}`, body);
      const image = document.getElementById("qt-image");
      if (image.dataset.url) URL.revokeObjectURL(image.dataset.url);
      image.dataset.url = URL.createObjectURL(file);
      image.src = image.dataset.url;
      photoUrl = image.dataset.url;
      lastFile = file;
      const bars = document.getElementById("qt-bars");
      bars.replaceChildren(...answer.predictions.map((p) => {
        const li = document.createElement("li");
        const label = document.createElement("span");
        label.className = "bar-label";
        label.textContent = p.tag_name;
        const bar = document.createElement("span");
        bar.className = "bar";
        bar.style.setProperty("--p", `${(100 * p.probability).toFixed(1)}%`);
        const value = document.createElement("span");
        value.className = "num";
        value.textContent = percent(p.probability);
        li.append(label, bar, value);
        return li;
      }));
      document.getElementById("qt-unknown").hidden = !answer.unknown;
      document.getElementById("qt-novelty").textContent = answer.novelty === null ? "" : answer.novelty.toFixed(3);
      note.textContent = store ? "Kept under Predictions, where you can tag it." : "Not stored.";
      document.getElementById("qt-result").hidden = false;
      if (heat.checked) await showHeat();
    } catch (err) {
      note.textContent = "";
      report(err);
    }
    input.value = "";
  }
  dropTarget(document.getElementById("qt-drop"), input, test);
  input.addEventListener("change", () => test([...input.files]));
}

// ---------------------------------------------------------------------------------------

const PAGES = {
  images: initImages,
  train: initTrain,
  performance: initPerformance,
  predictions: initPredictions,
  quicktest: initQuickTest,
};

document.addEventListener("DOMContentLoaded", () => {
  wireButtons(document);
  wireForms(document);
  wireCopy(document);
  wireAutosubmit(document);
  wireHeatmaps(document);
  const init = PAGES[document.body.dataset.page];
  if (init) init();
  document.body.dataset.ready = "true";
});
