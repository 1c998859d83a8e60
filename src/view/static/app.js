/*
 * batchline view: the page. Plain JavaScript, no build step, no network but its own server.
 * Every string from the run (model output, ids, file contents) goes into the page as text
 * (textContent / text nodes), never as markup; the one HTML string inserted is diff2html's
 * rendering, which escapes every line and name it prints.
 * Data comes from the server's /api/*, or, in a static report, from the JSON embedded in the page.
 */
(function () {
  "use strict";

  var embedded = document.getElementById("batchline-data");
  var STATIC = embedded ? JSON.parse(embedded.textContent) : null;
  var MAX_ROWS = 1000;
  var PAGE_SIZE = 50;
  var app = document.getElementById("app");

  function api(path, params) {
    if (STATIC) {
      if (path === "mode") return Promise.resolve({ mode: STATIC.mode });
      if (path === "overview") return Promise.resolve(STATIC.overview);
      if (path === "instances") return Promise.resolve(STATIC.instances);
      if (path === "instance") {
        var d = STATIC.details[params.id];
        return d ? Promise.resolve(d) : Promise.reject(new Error("no such instance: " + params.id));
      }
      return Promise.reject(new Error("not in a static report: " + path));
    }
    var q = new URLSearchParams(params || {}).toString();
    return fetch("/api/" + path + (q ? "?" + q : "")).then(function (res) {
      if (!res.ok) throw new Error(path + ": HTTP " + res.status);
      return res.json();
    });
  }

  /** h("div", {class: "x"}, child, "text", ...): strings become text nodes, never markup. */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (attrs[k] === undefined || attrs[k] === null || attrs[k] === false) continue;
        if (k === "onclick" || k === "oninput" || k === "onchange") el.addEventListener(k.slice(2), attrs[k]);
        else el.setAttribute(k, attrs[k] === true ? "" : String(attrs[k]));
      }
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(el, c); });
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }

  function fmtInt(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
  function fmtCost(c) { return c === null || c === undefined ? "–" : "$" + Number(c).toFixed(4); }
  function fmtSeconds(s) { return s === null || s === undefined ? "–" : Number(s).toFixed(1) + " s"; }
  function reasons(obj) {
    var keys = Object.keys(obj || {});
    if (keys.length === 0) return "";
    return keys.sort().map(function (k) { return k + " ×" + obj[k]; }).join(", ");
  }
  function card(label, value, id) {
    return h("div", { class: "card" }, h("div", { class: "card-value", "data-testid": id }, value), h("div", { class: "card-label" }, label));
  }
  function instanceHref(id) { return "#/instance/" + encodeURIComponent(id); }

  // ---------- JSON tree ----------
  function tree(value, key, depth) {
    var label = key === undefined ? null : h("span", { class: "json-key" }, key + ": ");
    if (value === null || typeof value !== "object") {
      if (typeof value === "string" && (value.length > 120 || value.indexOf("\n") !== -1)) {
        return h("details", { class: "json-node" }, h("summary", null, label, h("span", { class: "json-string" }, JSON.stringify(value.slice(0, 80)) + "… (" + value.length + " chars)")), h("pre", { class: "json-long" }, value));
      }
      return h("div", { class: "json-leaf" }, label, h("span", { class: "json-" + (value === null ? "null" : typeof value) }, JSON.stringify(value)));
    }
    var isArray = Array.isArray(value);
    var keys = Object.keys(value);
    var node = h("details", { class: "json-node" }, h("summary", null, label, h("span", { class: "json-meta" }, isArray ? "[" + keys.length + "]" : "{" + keys.length + "}")));
    if (depth < 1) node.open = true;
    var filled = false;
    function fill() {
      if (filled) return;
      filled = true;
      var box = h("div", { class: "json-children" });
      keys.forEach(function (k) { box.appendChild(tree(value[k], k, depth + 1)); });
      node.appendChild(box);
    }
    if (node.open) fill();
    node.addEventListener("toggle", fill);
    return node;
  }

  // ---------- diffs ----------
  var diffStyle = "line-by-line";
  function renderDiff(patch) {
    var box = h("div", { class: "diff", "data-testid": "diff" });
    if (typeof Diff2Html === "undefined") {
      box.appendChild(h("pre", null, patch));
      return box;
    }
    // diff2html escapes every line, name and header it prints (its escapeForHtml), so its HTML is safe to insert.
    box.innerHTML = Diff2Html.html(patch, { drawFileList: false, outputFormat: diffStyle, matching: "lines" });
    return box;
  }

  // ---------- run overview ----------
  function overviewView(o, rows) {
    var title = o.pipeline ? o.pipeline : o.kind === "save_dir" ? "save dir" : "run";
    var steps = o.steps.length === 0 ? h("p", { class: "muted" }, "No report.json: the counts below come from the files.") : h("div", null, o.source === "manifest.json" ? h("p", { class: "muted", "data-testid": "steps-source" }, "No report.json (the run is going, or was stopped): the steps finished so far, from manifest.json.") : null, h("table", { class: "grid steps", "data-testid": "steps" },
      h("thead", null, h("tr", null, ["step", "counts", "failures", "prompt tokens", "completion tokens", "cost", "time"].map(function (t) { return h("th", null, t); }))),
      h("tbody", null, o.steps.map(function (s) {
        var counts = Object.keys(s.counts).map(function (k) { return k + " " + fmtInt(s.counts[k]); }).join(", ");
        return h("tr", { "data-step": s.name, class: o.empty.indexOf(s.name) !== -1 ? "empty-step" : null },
          h("td", null, s.name), h("td", { class: "step-counts" }, counts), h("td", null, reasons(s.failures)),
          h("td", { class: "num" }, fmtInt(s.promptTokens)), h("td", { class: "num" }, fmtInt(s.completionTokens)), h("td", { class: "num" }, fmtCost(s.costUSD)), h("td", { class: "num" }, fmtSeconds(s.seconds)));
      }))));
    var failureKeys = Object.keys(o.totals.failures).sort(function (a, b) { return o.totals.failures[b] - o.totals.failures[a]; });
    var failures = failureKeys.length === 0 ? h("p", { class: "muted" }, "No pass ended in a failure.") : h("table", { class: "grid failures", "data-testid": "failures" },
      h("thead", null, h("tr", null, h("th", null, "reason"), h("th", null, "custom_ids"))),
      h("tbody", null, failureKeys.map(function (k) { return h("tr", null, h("td", null, k), h("td", { class: "num" }, fmtInt(o.totals.failures[k]))); })));
    var runKeys = Object.keys(o.runs || {}).sort();
    var runs = runKeys.length === 0 ? null : h("p", { "data-testid": "runs-summary" }, "Runs of the generated tests / scripts: " + runKeys.map(function (k) { return k + " " + o.runs[k]; }).join(", ") + ".");
    var vote = o.vote ? h("p", { "data-testid": "vote-summary" }, "Vote over passes " + o.vote.passes.join(", ") + ": " + o.vote.unanimous + " unanimous, " + o.vote.majority + " majority, " + o.vote.tie + " tie, " + o.vote.no_patch + " no patch; " + o.vote.predictions + " predictions.") : null;
    return h("div", null,
      h("h1", null, title),
      h("p", { class: "muted" }, o.path, o.finishedAt ? " · finished " + o.finishedAt : "", o.error ? h("span", { class: "error" }, " · " + o.error) : null),
      h("div", { class: "cards" },
        card("instances", fmtInt(o.totals.instances), "count-instances"),
        card("custom_ids", fmtInt(o.totals.custom_ids), "count-custom-ids"),
        o.patches ? card("with a patch", fmtInt(o.totals.with_patch), "count-with-patch") : null,
        o.patches ? card("without", fmtInt(o.totals.without_patch), "count-without-patch") : null,
        o.totals.generated > 0 ? card("with a test / script", fmtInt(o.totals.generated), "count-generated") : null,
        card("tokens in / out", fmtInt(o.totals.promptTokens) + " / " + fmtInt(o.totals.completionTokens), "count-tokens"),
        card("cost", fmtCost(o.totals.costUSD), "count-cost"),
        card("wall time", fmtSeconds(o.wallSeconds), "count-wall")),
      h("h2", null, "Steps"), steps,
      h("h2", null, "Failures by reason"), failures, vote, runs,
      h("h2", null, "Instances"), instancesTable(rows, o.patches));
  }

  var tableState = { filter: "", show: "all", sort: "instance_id", desc: false };
  function instancesTable(rows, patches) {
    var body = h("tbody");
    var note = h("p", { class: "muted", "data-testid": "rows-shown" });
    var votes = rows.some(function (r) { return r.vote !== null; });
    var columns = [["instance_id", "instance"], ["passes", "custom_ids"]];
    if (patches) columns.push(["with_patch", "with patch"], ["without_patch", "without"]);
    if (votes) columns.push(["vote", "vote"]);
    columns.push(["failures", "failure reasons"]);
    var runs = rows.some(function (r) { return r.run !== null || r.generated; });
    if (runs) columns.push(["generated", "test / script"], ["run", "run"]);
    function key(row, col) {
      if (col === "failures") return reasons(row.failures);
      if (col === "vote") return row.vote ? row.vote + (row.winner_pass !== null ? " " + row.winner_pass : "") : "";
      if (col === "generated") return row.generated ? "yes" : "";
      if (col === "run") return row.run || "";
      return row[col];
    }
    function draw() {
      var f = tableState.filter.toLowerCase();
      var kept = rows.filter(function (r) {
        if (tableState.show === "patch" && r.with_patch === 0 && !r.generated) return false;
        if (tableState.show === "nopatch" && (r.with_patch > 0 || r.generated)) return false;
        if (tableState.show === "failed" && Object.keys(r.failures).length === 0) return false;
        if (!f) return true;
        return (r.instance_id + " " + reasons(r.failures) + " " + (r.vote || "") + " " + (r.run || "")).toLowerCase().indexOf(f) !== -1;
      });
      kept.sort(function (a, b) {
        var x = key(a, tableState.sort), y = key(b, tableState.sort);
        var c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return tableState.desc ? -c : c;
      });
      body.textContent = "";
      kept.slice(0, MAX_ROWS).forEach(function (r) {
        body.appendChild(h("tr", { "data-testid": "row", "data-id": r.instance_id },
          h("td", null, h("a", { href: instanceHref(r.instance_id) }, r.instance_id)),
          h("td", { class: "num" }, r.passes),
          patches ? [h("td", { class: "num" }, r.with_patch), h("td", { class: "num" }, r.without_patch)] : null,
          votes ? h("td", null, key(r, "vote")) : null, h("td", null, reasons(r.failures)),
          runs ? [h("td", null, key(r, "generated")), h("td", { class: "run-" + (r.run || "none") }, key(r, "run"))] : null));
      });
      note.textContent = kept.length > MAX_ROWS ? "showing the first " + MAX_ROWS + " of " + kept.length + " matching instances (" + rows.length + " in all)" : kept.length + " of " + rows.length + " instances";
    }
    var head = h("tr", null, columns.map(function (c) {
      return h("th", { class: "sortable", "data-sort": c[0], onclick: function () {
        if (tableState.sort === c[0]) tableState.desc = !tableState.desc;
        else { tableState.sort = c[0]; tableState.desc = false; }
        draw();
      } }, c[1]);
    }));
    var filter = h("input", { type: "search", placeholder: "filter: id, failure reason, vote, run status", value: tableState.filter, "data-testid": "filter", oninput: function (e) { tableState.filter = e.target.value; draw(); } });
    var show = h("select", { "data-testid": "show", onchange: function (e) { tableState.show = e.target.value; draw(); } },
      [["all", "all instances"], ["patch", "with a patch, test or script"], ["nopatch", "with none"], ["failed", "with failures"]].map(function (o) {
        var opt = h("option", { value: o[0] }, o[1]);
        if (o[0] === tableState.show) opt.selected = true;
        return opt;
      }));
    draw();
    return h("div", null, h("div", { class: "toolbar" }, filter, show), note, h("table", { class: "grid instances", "data-testid": "instances" }, h("thead", null, head), body));
  }

  // ---------- instance page ----------
  function passView(p) {
    var failures = p.failures.length === 0 ? null : h("ul", { class: "pass-failures" }, p.failures.map(function (f) {
      return h("li", null, h("b", null, f.reason), f.stage ? " (" + f.stage + ")" : "", f.detail ? ": " + f.detail : "", h("span", { class: "muted" }, " · " + f.file));
    }));
    var found = p.found_files && p.found_files.length > 0 ? h("div", null, h("h4", null, "Files step 1 found"), h("ul", { class: "found-files", "data-testid": "found-files" }, p.found_files.map(function (f) { return h("li", null, h("code", null, f)); }))) : null;
    var patchLabel = p.patch_field === "test_patch" ? "Generated test (test_patch)" : "Patch (" + (p.patch_field || "model_patch") + ")";
    var patch = p.patch ? h("div", null, h("h4", null, patchLabel), renderDiff(p.patch)) : h("p", { class: "muted" }, "No patch.");
    var answer = p.answer ? h("div", null, h("h4", null, "Answer", p.answer.finish_reason ? h("span", { class: "muted" }, " · finish_reason " + p.answer.finish_reason) : null),
      p.answer.reasoning ? h("details", { class: "reasoning" }, h("summary", null, "reasoning (" + p.answer.reasoning.length + " chars)"), h("pre", null, p.answer.reasoning)) : null,
      h("pre", { class: "answer", "data-testid": "answer" }, p.answer.answer)) : null;
    var request = p.request ? h("details", { class: "request" }, h("summary", null, "Request (" + p.request.file + ":" + p.request.line + ")"), messagesView(p.request.value), tree(p.request.value, undefined, 1)) : null;
    var records = p.records_omitted ? h("p", { class: "muted" }, "The " + p.records_omitted + " lines with this custom_id are not in the static report (batchline view serves them).") : h("details", { class: "records" }, h("summary", null, "Every line with this custom_id (" + p.records.length + ")"),
      p.records.map(function (r) { return h("div", { class: "record" }, h("div", { class: "muted" }, r.file + ":" + r.line + " (" + r.role + ")"), tree(r.value, undefined, 1)); }));
    return h("section", { class: "pass", "data-testid": "pass", "data-custom-id": p.custom_id },
      h("h3", null, p.custom_id, " ", h("span", { class: p.patch ? "badge ok" : "badge bad" }, p.patch ? "patch" : "no patch")),
      failures, found, patch, answer, request, records);
  }
  function messagesView(request) {
    var messages = request && request.body && Array.isArray(request.body.messages) ? request.body.messages : null;
    if (!messages) return null;
    return h("div", { class: "messages" }, messages.map(function (m) {
      var text = typeof m.content === "string" ? m.content : JSON.stringify(m.content, null, 2);
      return h("div", { class: "message" }, h("div", { class: "muted" }, String(m.role)), h("pre", null, text));
    }));
  }
  function instanceView(d) {
    var problem = d.problem_statement !== null ? h("div", null, h("h2", null, "Problem statement"), h("pre", { class: "problem", "data-testid": "problem" }, d.problem_statement))
      : d.prompt !== null ? h("details", { open: true }, h("summary", null, "Problem (the first request's prompt; pass --dataset for the problem statement alone)"), h("pre", { class: "problem", "data-testid": "problem" }, d.prompt)) : null;
    var vote = d.vote ? h("p", { "data-testid": "instance-vote" }, "Vote: " + d.vote.outcome + (d.vote.winner_pass !== null ? ", winner pass " + d.vote.winner_pass : "") + "; groups " + d.vote.groups.map(function (g) { return "[" + g.passes.join(",") + "]"; }).join(" ")) : null;
    var toggle = h("label", { class: "toggle" }, h("input", { type: "checkbox", checked: diffStyle === "side-by-side", onchange: function (e) { diffStyle = e.target.checked ? "side-by-side" : "line-by-line"; route(); } }), " side by side");
    return h("div", null, h("p", null, h("a", { href: "#/" }, "← run")), h("h1", { "data-testid": "instance-id" }, d.instance_id), vote, problem, toggle, generatedView(d), runView(d.run), stagesView(d.stages), d.passes.map(passView));
  }
  function generatedView(d) {
    if (d.test_patch) return h("div", null, h("h2", null, "Generated test"), renderDiff(d.test_patch));
    if (d.script) return h("div", null, h("h2", null, "Generated script ", h("span", { class: "muted" }, d.script.path)), h("pre", { class: "script", "data-testid": "script" }, d.script.text === null ? "(the file is gone)" : d.script.text));
    return null;
  }
  function runView(run) {
    if (!run) return null;
    var ok = run.status === "success" || run.status === "passed";
    return h("div", { "data-testid": "run" }, h("h2", null, "Run result ", h("span", { class: ok ? "badge ok" : "badge bad", "data-testid": "run-status" }, run.status), h("span", { class: "muted" }, " · " + run.source)),
      h("table", { class: "grid run-fields" }, h("tbody", null, Object.keys(run.fields).map(function (k) {
        var v = run.fields[k];
        var text = typeof v === "string" ? v : JSON.stringify(v, null, 2);
        return h("tr", null, h("th", null, k), h("td", null, text.indexOf("\n") !== -1 || text.length > 120 ? h("pre", null, text) : text));
      }))));
  }
  function stagesView(stages) {
    if (!stages || stages.length === 0) return null;
    return h("details", { class: "stages" }, h("summary", null, "Phases (" + stages.length + ")"), stages.map(function (s) { return tree(s, undefined, 1); }));
  }

  // ---------- bare JSONL ----------
  function jsonlView(info) {
    var list = h("div", { class: "records-list", "data-testid": "records" });
    var more = h("button", { type: "button" }, "more");
    var status = h("p", { class: "muted", "data-testid": "status" });
    var state = { q: "", next: 0 };
    function show(records) {
      records.forEach(function (r) {
        list.appendChild(h("div", { class: "record", "data-testid": "record" }, h("div", { class: "muted" }, "line " + r.line + (r.valid ? "" : " (not JSON)") + (r.utf8 === false ? " (not valid UTF-8: bad bytes shown as \uFFFD)" : "")), tree(r.value, undefined, 0)));
      });
    }
    function load() {
      more.disabled = true;
      var p = state.q ? api("search", { q: state.q, from: state.next, limit: PAGE_SIZE }).then(function (res) { show(res.records); state.next = res.next; })
        : api("lines", { from: state.next, n: PAGE_SIZE }).then(function (records) { show(records); state.next = state.next + records.length < info.records ? state.next + records.length : null; });
      p.then(function () {
        status.textContent = list.childNodes.length + " record(s) shown" + (state.q ? " matching " + JSON.stringify(state.q) : " of " + info.records);
        more.disabled = state.next === null;
        more.hidden = state.next === null;
      });
    }
    var search = h("input", { type: "search", placeholder: "search the raw lines (case-sensitive)", "data-testid": "search" });
    var form = h("form", { class: "toolbar" }, search, h("button", { type: "submit" }, "search"));
    form.addEventListener("submit", function (e) { e.preventDefault(); state.q = search.value; state.next = 0; list.textContent = ""; load(); });
    more.addEventListener("click", load);
    load();
    return h("div", null, h("h1", null, info.path), h("p", { class: "muted", "data-testid": "file-info" }, fmtInt(info.records) + " records · " + fmtInt(info.bytes) + " bytes"), form, status, list, more);
  }

  // ---------- routing ----------
  var mode = null;
  function show(node) { app.textContent = ""; app.appendChild(node); window.scrollTo(0, 0); }
  function fail(err) { show(h("p", { class: "error" }, String(err && err.message ? err.message : err))); }
  function route() {
    var hash = location.hash || "#/";
    if (mode === "jsonl") return api("file").then(function (info) { show(jsonlView(info)); }).catch(fail);
    var m = /^#\/instance\/(.+)$/.exec(hash);
    if (m) return api("instance", { id: decodeURIComponent(m[1]) }).then(function (d) { show(instanceView(d)); }).catch(fail);
    Promise.all([api("overview"), api("instances")]).then(function (r) { show(overviewView(r[0], r[1])); }).catch(fail);
  }
  window.addEventListener("hashchange", route);
  api("mode").then(function (m) { mode = m.mode; route(); }).catch(fail);
})();
