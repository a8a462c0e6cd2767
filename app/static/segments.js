// The segments page: reads /v1/model and /v1/segments, posts pasted histories to /v1/assign.
// Every piece of data reaches the page as a text node or an attribute value (never as HTML).
"use strict";

(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const LABELS = {
    recency_days: "Days since last order",
    frequency: "Orders",
    monetary: "Net spend",
    avg_order_value: "Avg order value",
    tenure_days: "Days as customer",
  };
  const MONEY = new Set(["monetary", "avg_order_value"]);
  // Header names people paste, normalized (lower case, letters and digits only) -> API field.
  const COLUMNS = {
    order_id: ["orderid", "order", "invoiceno", "invoice", "invoiceid", "basketid", "basket"],
    timestamp: ["timestamp", "invoicedate", "date", "datetime", "time", "orderdate", "transactiondate"],
    quantity: ["quantity", "qty"],
    unit_price: ["unitprice", "price"],
    amount: ["amount", "total", "linetotal", "salesvalue", "sales"],
    customer_id: ["customerid", "customer", "householdkey"],
    category: ["category"],
    product_id: ["productid", "product", "stockcode", "sku"],
  };
  const NUMERIC = new Set(["quantity", "unit_price", "amount"]);
  const EXAMPLE = [
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
    "543479,22371,AIRLINE BAG VINTAGE TOKYO 78,24,2011-02-08 15:42:00,3.75,16998.0,United Kingdom",
    "553868,22371,AIRLINE BAG VINTAGE TOKYO 78,48,2011-05-19 14:24:00,3.95,16998.0,United Kingdom",
    "553871,22371,AIRLINE BAG VINTAGE TOKYO 78,2,2011-05-19 14:30:00,3.75,16998.0,United Kingdom",
    "C554373,22371,AIRLINE BAG VINTAGE TOKYO 78,-2,2011-05-24 11:23:00,3.75,16998.0,United Kingdom",
    "559828,22371,AIRLINE BAG VINTAGE TOKYO 78,2,2011-07-13 09:44:00,3.95,16998.0,United Kingdom",
    "C559830,M,Manual,-1,2011-07-13 09:49:00,0.48,16998.0,United Kingdom",
  ].join("\n");

  const state = { model: null, segments: null, byId: new Map(), key: "" };

  // ---- DOM helpers: text only --------------------------------------------------------
  function append(node, children) {
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return append(node, children);
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return append(node, children);
  }

  const byId = (id) => document.getElementById(id);

  // ---- formatting ----------------------------------------------------------------------
  function num(value, digits, minDigits = 0) {
    return new Intl.NumberFormat("en-GB", {
      maximumFractionDigits: digits,
      minimumFractionDigits: minDigits,
    }).format(value);
  }
  // A tiny but non-zero share reads "<0.1%", not "0%".
  const pct = (value, digits = 1) =>
    value > 0 && 100 * value < 10 ** -digits ? `<${num(10 ** -digits, digits)}%` : `${num(100 * value, digits)}%`;
  // Signed, one decimal, and never "-0" for a value that rounds to zero.
  const signed = (value) => (Math.abs(value) < 0.05 ? "0" : `${value > 0 ? "+" : "−"}${num(Math.abs(value), 1)}`);

  function label(name) {
    if (LABELS[name]) return LABELS[name];
    if (name.startsWith("share_")) return `Spend share: ${name.slice(6).replace(/_/g, " ")}`;
    return name.replace(/_/g, " ");
  }

  function fmtFeature(name, value) {
    if (typeof value !== "number" || !Number.isFinite(value)) return "–";
    if (name.startsWith("share_")) return pct(value);
    if (MONEY.has(name)) return num(value, 2, 2);
    if (Number.isInteger(value)) return num(value, 0);
    return num(value, Math.abs(value) < 10 ? 1 : 0);
  }

  function fmtTime(text) {
    if (!text) return "–";
    const date = new Date(text);
    if (Number.isNaN(date.getTime())) return String(text);
    return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  }

  // ---- charts ----------------------------------------------------------------------------
  // Diverging bars: one row per feature, value in standard deviations, clipped at +-limit.
  function profileChart(rows, limit = 3) {
    const width = 340, labelW = 128, valueW = 44, rowH = 19, top = 4;
    const mid = labelW + (width - labelW - valueW) / 2;
    const half = (width - labelW - valueW) / 2 - 4;
    const height = top + rows.length * rowH + 16;
    const chart = svg("svg", {
      class: "chart profile", viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": "profile: centre of the segment against the average customer",
    });
    for (const tick of [-limit, 0, limit]) {
      const x = mid + (tick / limit) * half;
      chart.append(svg("line", { class: tick === 0 ? "axis" : "grid", x1: x, x2: x, y1: top, y2: height - 14 }));
      chart.append(svg("text", { x, y: height - 3, "text-anchor": "middle", class: "muted" },
        tick === 0 ? "average" : `${tick > 0 ? "+" : "−"}${limit}σ`));
    }
    rows.forEach((row, i) => {
      const y = top + i * rowH;
      const clipped = Math.max(-limit, Math.min(limit, row.value));
      const len = (Math.abs(clipped) / limit) * half;
      chart.append(svg("text", { x: 0, y: y + 13 }, row.label));
      chart.append(svg("rect", {
        class: row.value >= 0 ? "above" : "below", y: y + 3, height: rowH - 7,
        x: row.value >= 0 ? mid : mid - len, width: Math.max(len, 1),
      }, svg("title", {}, `${row.label}: ${num(row.value, 2)} standard deviations`)));
      chart.append(svg("text", { x: width, y: y + 13, "text-anchor": "end", class: "muted" }, signed(row.value)));
    });
    return chart;
  }

  // Vertical bars of a selection score per k, the chosen k highlighted.
  function scoresChart(scores, metric, chosen) {
    const width = 440, height = 170, left = 8, bottom = 30, top = 18;
    const values = scores.map((s) => s[metric]);
    const max = Math.max(...values.map((v) => Math.abs(v)), 1e-12);
    const slot = (width - left) / scores.length;
    const chart = svg("svg", {
      class: "chart scores", viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `${metric} per number of segments`,
    });
    chart.append(svg("line", { class: "axis", x1: left, x2: width, y1: height - bottom, y2: height - bottom }));
    scores.forEach((s, i) => {
      const barH = (Math.abs(s[metric]) / max) * (height - bottom - top);
      const x = left + i * slot + slot * 0.15;
      const isChosen = s.k === chosen;
      chart.append(svg("rect", {
        class: isChosen ? "chosen" : "other", x, width: slot * 0.7,
        y: height - bottom - barH, height: Math.max(barH, 1),
      }, svg("title", {}, `k = ${s.k}: ${metric} ${num(s[metric], 3)}`)));
      chart.append(svg("text", { x: x + slot * 0.35, y: height - bottom + 13, "text-anchor": "middle" }, `${s.k}`));
      chart.append(svg("text", {
        x: x + slot * 0.35, y: height - bottom - barH - 4, "text-anchor": "middle", class: isChosen ? "" : "muted",
      }, num(s[metric], 3)));
    });
    chart.append(svg("text", { x: width / 2, y: height - 2, "text-anchor": "middle", class: "muted" },
      `number of segments k (bars: ${metric.replace(/_/g, " ")})`));
    return chart;
  }

  // Per-feature terms of the squared distances to the assigned and the next centroid.
  function contributionChart(features, hasNext) {
    const width = 640, labelW = 150, valueW = 110, rowH = hasNext ? 26 : 17, top = 2;
    const max = Math.max(...features.flatMap((f) => [f.assigned.contribution, f.next ? f.next.contribution : 0]), 1e-12);
    const span = width - labelW - valueW;
    const chart = svg("svg", {
      class: "chart contributions", viewBox: `0 0 ${width} ${top + features.length * rowH + 2}`, role: "img",
      "aria-label": "each feature's term of the squared distance",
    });
    features.forEach((f, i) => {
      const y = top + i * rowH;
      chart.append(svg("text", { x: 0, y: y + 12 }, label(f.feature)));
      const bars = [["assigned", f.assigned]];
      if (hasNext && f.next) bars.push(["next", f.next]);
      bars.forEach(([kind, gap], b) => {
        chart.append(svg("rect", {
          class: kind === "assigned" ? "chosen" : "next", x: labelW, y: y + 2 + b * 11, height: 9,
          width: Math.max((gap.contribution / max) * span, 1),
        }, svg("title", {}, `${label(f.feature)}: term ${num(gap.contribution, 3)}; this customer `
          + `${fmtFeature(f.feature, f.value)}, centre ${fmtFeature(f.feature, gap.centroid)}`)));
      });
      const text = hasNext && f.next
        ? `${num(f.assigned.contribution, 2)} vs ${num(f.next.contribution, 2)}`
        : num(f.assigned.contribution, 2);
      chart.append(svg("text", { x: width, y: y + 12, "text-anchor": "end", class: "muted" }, text));
    });
    return chart;
  }

  // ---- the model and the cards -----------------------------------------------------------
  function fact(dl, term, ...value) {
    dl.append(h("dt", {}, term), h("dd", {}, ...value));
  }

  function renderModel(model) {
    const dl = byId("model-facts");
    const data = model.data || {};
    const features = model.features || {};
    fact(dl, "Version", h("code", {}, model.version));
    fact(dl, "Trained", fmtTime(model.created_at));
    fact(dl, "Algorithm", model.algorithm || "–");
    if (data.file) fact(dl, "Data", data.file, data.sha256 ? ` (sha256 ${String(data.sha256).slice(0, 12)}…)` : "");
    if (data.customers !== undefined) fact(dl, "Customers", num(data.customers, 0));
    if (data.rows_used !== undefined) {
      fact(dl, "Lines used", num(data.rows_used, 0), data.rows_read !== undefined ? ` of ${num(data.rows_read, 0)} read` : "");
    }
    if (Array.isArray(data.date_range)) fact(dl, "Period", `${fmtTime(data.date_range[0])} to ${fmtTime(data.date_range[1])}`);
    if (data.as_of) fact(dl, "As of", fmtTime(data.as_of));
    if (Array.isArray(features.names)) {
      fact(dl, "Features", features.names.map(label).join(", "), features.definition ? ` (${features.definition})` : "");
    }
    const selection = model.selection || {};
    const k = selection.chosen_k ?? (model.segments || []).length;
    byId("model-k").textContent = String(k);
    byId("model-rule").textContent = selection.rule ? `Rule: ${selection.rule}.` : "The number of segments was fixed.";
    if (selection.warning) {
      byId("model-warning").textContent = selection.warning;
      byId("model-warning").hidden = false;
    }
    const scores = Array.isArray(selection.scores) ? selection.scores.filter((s) => typeof s.k === "number") : [];
    if (scores.length) {
      const metric = "silhouette" in scores[0] ? "silhouette"
        : Object.keys(scores[0]).find((key) => key !== "k" && typeof scores[0][key] === "number");
      if (metric) byId("model-scores").append(scoresChart(scores, metric, k));
      renderScoreTable(scores, k, selection);
    }
    byId("model").hidden = false;
  }

  // k, the scores the rule used (silhouette, bootstrap stability) and which k is chosen / the elbow.
  function renderScoreTable(scores, chosen, selection) {
    const columns = ["silhouette", "stability"].filter((key) => typeof scores[0][key] === "number");
    if (!columns.length) return;
    const elbow = selection.elbow && typeof selection.elbow.k === "number" ? selection.elbow.k : null;
    const threshold = typeof selection.stability_threshold === "number" ? selection.stability_threshold : null;
    const table = byId("model-score-table");
    table.append(
      h("thead", {}, h("tr", {}, h("th", {}, "k"), columns.map((c) => h("th", {}, c)), h("th", {}, ""))),
      h("tbody", {}, scores.map((s) => {
        const marks = [s.k === chosen ? "chosen" : "", s.k === elbow ? "elbow" : ""].filter(Boolean).join(", ");
        return h("tr", { class: s.k === chosen ? "chosen" : "", "data-k": s.k },
          h("td", {}, `${s.k}`),
          columns.map((c) => {
            const text = c === "stability" && typeof s.stability_std === "number"
              ? `${num(s[c], 3)} ± ${num(s.stability_std, 3)}` : num(s[c], 3);
            const unstable = c === "stability" && threshold !== null && s[c] < threshold;
            return h("td", unstable ? { class: "below-threshold" } : {}, text);
          }),
          h("td", {}, marks));
      })));
    if (threshold !== null) {
      table.prepend(h("caption", {}, `stability: mean adjusted Rand index of bootstrap refits; below ${num(threshold, 2)} in grey`));
    }
    table.hidden = false;
  }

  function profileRows(segment, model) {
    const names = (model.features && model.features.names) || Object.keys(segment.centroid);
    const meta = (model.segments || []).find((s) => s.id === segment.id);
    if (!meta || !Array.isArray(meta.centroid_scaled) || meta.centroid_scaled.length !== names.length) return null;
    return names.map((name, j) => ({ label: label(name), value: meta.centroid_scaled[j] }));
  }

  function renderCards(segments, model) {
    const cards = byId("cards");
    const ranges = model.feature_ranges || {};
    for (const segment of segments.segments) {
      const rows = profileRows(segment, model);
      const stats = h("div", { class: "stats" },
        stat(num(segment.size, 0), "customers"),
        stat(pct(segment.share), "of customers"),
        typeof segment.revenue_share === "number" ? stat(pct(segment.revenue_share), "of net spend") : null);
      const table = h("table", { class: "figures" },
        h("thead", {}, h("tr", {}, h("th", {}, "Median customer"), h("th", {}, "this segment"), h("th", {}, "all"))),
        h("tbody", {}, segments.feature_names.map((name) => h("tr", {},
          h("td", {}, label(name)),
          h("td", {}, fmtFeature(name, segment.median[name])),
          h("td", {}, fmtFeature(name, ranges[name] ? ranges[name].median : undefined))))));
      cards.append(h("article", { class: "card", "data-segment-id": segment.id },
        h("h3", {}, h("span", { class: "seg-name" }, segment.name), h("span", { class: "seg-id" }, `#${segment.id}`)),
        h("p", { class: "description" }, segment.description),
        stats,
        rows ? profileChart(rows) : h("p", { class: "note" }, "No profile: the model has no scaled centroids."),
        table));
    }
    byId("segments").hidden = false;
  }

  function stat(value, text) {
    return h("div", { class: "stat" }, h("span", { class: "value" }, value), h("span", { class: "label" }, text));
  }

  // ---- pasted histories -> an assign request ----------------------------------------------
  class InputError extends Error {
    constructor(messages) {
      super(messages.join("; "));
      this.messages = messages;
    }
  }

  function splitCsv(text, delimiter) {
    const rows = [];
    let row = [], field = "", quoted = false, line = 1, rowLine = 1;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
        else if (c === '"') quoted = false;
        else { if (c === "\n") line++; field += c; }
      } else if (c === '"' && field === "") quoted = true;
      else if (c === delimiter) { row.push(field); field = ""; }
      else if (c === "\n" || c === "\r") {
        if (c === "\r" && text[i + 1] === "\n") i++;
        row.push(field);
        rows.push({ line: rowLine, cells: row });
        row = []; field = ""; line++; rowLine = line;
      } else field += c;
    }
    if (quoted) throw new InputError([`line ${rowLine}: a quoted field is not closed`]);
    row.push(field);
    rows.push({ line: rowLine, cells: row });
    return rows.filter((r) => r.cells.some((cell) => cell.trim() !== ""));
  }

  const normalizeId = (text) => text.trim().replace(/^(\d+)\.0$/, "$1");

  function normalizeTimestamp(text) {
    // M/D/YYYY H:MM, as in the original Online Retail spreadsheet; anything else goes as is.
    const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(text);
    if (!m) return text;
    const p = (v) => String(v || 0).padStart(2, "0");
    return `${m[3]}-${p(m[1])}-${p(m[2])}T${p(m[4])}:${p(m[5])}:${p(m[6])}`;
  }

  function parseCsvHistory(text, defaultId) {
    const first = text.split(/\r?\n/, 1)[0];
    const delimiter = first.includes(",") ? "," : first.includes("\t") ? "\t" : first.includes(";") ? ";" : ",";
    const rows = splitCsv(text, delimiter);
    if (rows.length < 2) throw new InputError(["give a header line and at least one transaction line"]);
    const header = rows[0].cells.map((cell) => cell.trim().toLowerCase().replace(/[^a-z0-9]/g, ""));
    const index = {};
    for (const [field, aliases] of Object.entries(COLUMNS)) {
      const at = header.findIndex((name) => aliases.includes(name));
      if (at >= 0) index[field] = at;
    }
    if (index.timestamp === undefined) {
      throw new InputError([`line ${rows[0].line}: the header has no timestamp column (timestamp or InvoiceDate); it has ${rows[0].cells.join(", ")}`]);
    }
    const errors = [], customers = new Map(), lines = new Map();
    for (const row of rows.slice(1)) {
      if (row.cells.length !== header.length) {
        errors.push(`line ${row.line}: has ${row.cells.length} fields, the header has ${header.length}`);
        continue;
      }
      const t = {};
      for (const [field, at] of Object.entries(index)) {
        const cell = row.cells[at].trim();
        if (field === "customer_id" || cell === "") continue;
        if (NUMERIC.has(field)) {
          const value = Number(cell);
          if (!Number.isFinite(value)) errors.push(`line ${row.line}: ${field} "${cell}" is not a number`);
          t[field] = value;
        } else if (field === "timestamp") t.timestamp = normalizeTimestamp(cell);
        else t[field] = field === "order_id" || field === "product_id" ? normalizeId(cell) : cell;
      }
      if (!t.timestamp) errors.push(`line ${row.line}: timestamp is empty`);
      const id = index.customer_id === undefined ? defaultId : normalizeId(row.cells[index.customer_id]);
      if (!id) errors.push(`line ${row.line}: customer id is empty`);
      if (!customers.has(id)) { customers.set(id, []); lines.set(id, []); }
      customers.get(id).push(t);
      lines.get(id).push(row.line);
    }
    if (errors.length) throw new InputError(errors);
    const ids = [...customers.keys()];
    return {
      request: { customers: ids.map((id) => ({ customer_id: id, transactions: customers.get(id) })) },
      lines: ids.map((id) => lines.get(id)),
    };
  }

  function parseJsonHistory(text, defaultId) {
    let data;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new InputError([`not valid JSON: ${err.message}`]);
    }
    if (Array.isArray(data)) return { request: { customers: [{ customer_id: defaultId, transactions: data }] }, lines: null };
    if (data && typeof data === "object") {
      if (Array.isArray(data.customers)) return { request: { ...data }, lines: null };
      if (data.transactions || data.features) {
        return { request: { customers: [{ customer_id: defaultId, ...data }] }, lines: null };
      }
    }
    throw new InputError(["JSON must be a list of transactions, a customer {customer_id, transactions} or a request {customers: [...]}"]);
  }

  function buildRequest(text, defaultId, asOf) {
    const trimmed = text.trim();
    if (!trimmed) throw new InputError(["paste a purchase history first"]);
    const parsed = /^[[{]/.test(trimmed) ? parseJsonHistory(trimmed, defaultId) : parseCsvHistory(trimmed, defaultId);
    if (asOf && parsed.request.as_of === undefined) parsed.request.as_of = asOf;
    return parsed;
  }

  // "customers[0].transactions[3].quantity" -> "... (line 5)" when the lines came from CSV.
  function withLine(field, lines) {
    const m = /^customers\[(\d+)\]\.transactions\[(\d+)\]/.exec(field || "");
    if (!m || !lines || !lines[+m[1]] || lines[+m[1]][+m[2]] === undefined) return "";
    return ` (line ${lines[+m[1]][+m[2]]})`;
  }

  // ---- results ------------------------------------------------------------------------------
  function renderResult(result) {
    const segment = state.byId.get(result.segment_id);
    const ranges = (state.model && state.model.feature_ranges) || {};
    const explanation = result.explanation || null;
    const outside = new Set(explanation ? explanation.outside_training_range : []);
    const next = result.next_segment;
    const box = h("div", { class: "result", "data-customer-id": result.customer_id },
      h("h3", {}, "Customer ", h("code", {}, result.customer_id)),
      h("p", { class: "verdict" }, "Segment ",
        h("span", { class: "seg-name", "data-segment-id": result.segment_id }, result.segment_name),
        ` (#${result.segment_id}) at distance ${num(result.distance, 3)}`,
        next ? `; next nearest: ${next.segment_name} (#${next.segment_id}) at ${num(next.distance, 3)}` : ""),
      segment ? h("p", { class: "note" }, segment.description) : null,
      Object.keys(result.lines_dropped || {}).length ? h("p", { class: "note dropped" }, "Lines left out by the rulebook: ",
        Object.entries(result.lines_dropped).map(([code, n]) => `${code.replace(/_/g, " ")} ${n}`).join(", ")) : null,
      Array.isArray(result.probabilities) ? h("p", { class: "probabilities" }, "Membership probabilities: ",
        result.probabilities.map((p) => `${p.segment_name} ${pct(p.probability)}`).join(", ")) : null);
    const names = Object.keys(result.features);
    box.append(h("table", { class: "customer-features" },
      h("thead", {}, h("tr", {}, h("th", {}, "Feature"), h("th", {}, "this customer"),
        h("th", {}, "segment median"), h("th", {}, "all customers median"), h("th", {}, ""))),
      h("tbody", {}, names.map((name) => h("tr", {},
        h("td", {}, label(name)),
        h("td", {}, fmtFeature(name, result.features[name])),
        h("td", {}, segment ? fmtFeature(name, segment.median[name]) : "–"),
        h("td", {}, ranges[name] ? fmtFeature(name, ranges[name].median) : "–"),
        h("td", { class: "flag" }, outside.has(name) ? "outside the training range" : ""))))));
    if (explanation) {
      const hasNext = explanation.next_squared_distance !== null && explanation.next_squared_distance !== undefined;
      box.append(h("h4", {}, "Why this segment"),
        h("p", { class: "note why" },
          `Squared distance to ${result.segment_name}: ${num(explanation.squared_distance, 3)}`,
          hasNext && next ? `; to ${next.segment_name}: ${num(explanation.next_squared_distance, 3)}` : "",
          ". Each bar is one feature's term of that sum (scaled units): features whose grey bar is longer than the blue one pull this customer towards its segment."),
        contributionChart(explanation.features, hasNext),
        h("div", { class: "legend" },
          h("span", {}, h("span", { class: "swatch assigned" }), result.segment_name),
          hasNext && next ? h("span", {}, h("span", { class: "swatch next" }), next.segment_name) : null));
    }
    return box;
  }

  function showErrors(title, messages) {
    const out = byId("result");
    out.replaceChildren(h("div", { class: "errors", role: "alert" },
      h("strong", {}, title), h("ul", {}, messages.map((m) => h("li", {}, m)))));
    out.dataset.state = "error";
  }

  async function submit(event) {
    event.preventDefault();
    const out = byId("result");
    let parsed;
    try {
      parsed = buildRequest(byId("history").value, byId("customer-id").value.trim() || "pasted-customer",
        byId("as-of").value.trim());
    } catch (err) {
      if (err instanceof InputError) return showErrors("The pasted history cannot be read:", err.messages);
      throw err;
    }
    const button = byId("assign");
    button.disabled = true;
    out.dataset.state = "pending";
    try {
      // strict: a pasted history that cannot be placed is shown as errors, not as an empty slot
      const response = await fetch("/v1/assign?explain=true&strict=true", {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify(parsed.request),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        const errors = body && Array.isArray(body.errors) && body.errors.length
          ? body.errors.map((e) => `${e.field}: ${e.message}${withLine(e.field, parsed.lines)}`)
          : [body && body.detail ? body.detail : `HTTP ${response.status}`];
        return showErrors(`${(body && body.title) || "Error"} (${response.status}):`, errors);
      }
      out.replaceChildren(h("p", { class: "note" }, `Model ${body.model_version}, as of ${fmtTime(body.as_of)}.`),
        ...body.results.map(renderResult));
      for (const card of document.querySelectorAll(".card")) {
        card.classList.toggle("selected", body.results.some((r) => String(r.segment_id) === card.dataset.segmentId));
      }
      out.dataset.state = "done";
    } catch (err) {
      showErrors("The service did not answer:", [String(err.message || err)]);
    } finally {
      button.disabled = false;
    }
  }

  // ---- start ------------------------------------------------------------------------------------
  function headers(extra) {
    const out = { Accept: "application/json", ...extra };
    if (state.key) out["X-API-Key"] = state.key;
    return out;
  }

  class HttpError extends Error {
    constructor(path, status, detail) {
      super(`${path}: ${detail || `HTTP ${status}`}`);
      this.status = status;
    }
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: headers() });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new HttpError(path, response.status, body && body.detail);
    return body;
  }

  async function load() {
    const status = byId("status");
    status.classList.remove("error");
    try {
      const [model, segments] = await Promise.all([getJson("/v1/model"), getJson("/v1/segments")]);
      state.model = model;
      state.segments = segments;
      for (const s of segments.segments) state.byId.set(s.id, s);
      byId("key-form").hidden = true;
      renderModel(model);
      renderCards(segments, model);
      if (model.data && model.data.as_of) byId("as-of").value = model.data.as_of;
      byId("try").hidden = false;
      status.textContent = `${segments.segments.length} segments, model ${segments.model_version}.`;
      document.body.dataset.state = "ready";
    } catch (err) {
      if (err.status === 401) {
        byId("key-form").hidden = false;
        status.textContent = state.key ? "That API key is not valid; try another." : "An API key is needed to see the segments.";
        document.body.dataset.state = "needs-key";
      } else {
        status.textContent = `The model could not be shown: ${err.message}`;
        document.body.dataset.state = "error";
      }
      status.classList.add("error");
    }
  }

  function start() {
    byId("assign-form").addEventListener("submit", submit);
    byId("example").addEventListener("click", () => {
      byId("history").value = EXAMPLE;
      byId("customer-id").value = "16998";
    });
    byId("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      state.key = byId("api-key").value.trim();
      document.body.dataset.state = "loading";
      load();
    });
    load();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
