// guestsim report: draws the page from the document embedded in it (JSON, gzip-compressed,
// in base64: decoded here, by the browser's own DecompressionStream, from bytes in memory).
//
// Plain JavaScript, no dependencies, no network. Every text taken from the document is
// inserted with textContent or setAttribute (never as markup): guest data is hostile.
// Heavy parts (a scenario's timelines, tables and events; an exploration's cut matrix)
// are built only when they are opened or scrolled into view. Once drawn, #app has
// data-state="ready" (and the performance mark "guestsim-ready"); when the embedded
// document does not decode, data-state="error" and a message says why.
"use strict";
(async () => {
  const source = document.getElementById("guestsim-report");
  const app = document.getElementById("app");
  if (!source || !app) return;

  const why = (error) => String((error && error.message) || error).replace(/\.$/, "");

  // The embedded document: base64 → gzip → UTF-8 JSON.
  async function readDocument(element) {
    let binary;
    try {
      binary = atob(element.textContent.replace(/\s+/g, ""));
    } catch (error) {
      throw new Error(`it is not base64 (${why(error)})`);
    }
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    let text = "";
    try {
      const reader = new Blob([bytes])
        .stream()
        .pipeThrough(new DecompressionStream("gzip"))
        .pipeThrough(new TextDecoderStream("utf-8", { fatal: true }))
        .getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += value;
      }
    } catch (error) {
      throw new Error(`it does not decompress (${why(error)})`);
    }
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new Error(`it is not JSON (${why(error)})`);
    }
  }

  let doc;
  try {
    if (typeof DecompressionStream !== "function") {
      throw new Error("this browser has no DecompressionStream (gzip): use a newer one");
    }
    doc = await readDocument(source);
    if (doc == null || typeof doc !== "object") throw new Error("it is not a JSON object");
  } catch (error) {
    const message = document.createElement("p");
    message.className = "load-error";
    message.setAttribute("role", "alert");
    message.textContent =
      `This report's data could not be read: ${why(error)}. ` +
      "The file may be truncated or damaged; write the report again.";
    app.appendChild(message);
    app.dataset.state = "error";
    return;
  }

  // The SVG namespace, asked of the parser rather than spelled out as a URL.
  const SVGNS = (() => {
    const probe = document.createElement("div");
    probe.innerHTML = "<svg></svg>"; // a constant: no data
    return probe.firstChild.namespaceURI;
  })();

  const scenarios = Array.isArray(doc.scenarios) ? doc.scenarios : [];
  const byId = new Map();
  for (const s of scenarios) byId.set(String(s.id), s);
  const listed = scenarios.filter((s) => s.cut_of == null);
  const explorations = Array.isArray(doc.explore) ? doc.explore : [];

  // --- small helpers ---------------------------------------------------------------------

  function add(parent, child) {
    if (child == null || child === false) return;
    if (Array.isArray(child)) {
      for (const c of child) add(parent, c);
    } else if (typeof child === "object") {
      parent.appendChild(child);
    } else {
      parent.appendChild(document.createTextNode(String(child)));
    }
  }

  function setAttrs(node, attrs, svg) {
    if (!attrs) return;
    for (const key of Object.keys(attrs)) {
      const value = attrs[key];
      if (value == null || value === false) continue;
      if (key === "class") {
        if (svg) node.setAttribute("class", value);
        else node.className = value;
      } else if (key === "text") {
        node.textContent = String(value);
      } else if (key === "dataset") {
        for (const name of Object.keys(value)) node.dataset[name] = String(value[name]);
      } else {
        node.setAttribute(key, value === true ? "" : String(value));
      }
    }
  }

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs, false);
    add(node, children);
    return node;
  }

  function s(tag, attrs, ...children) {
    const node = document.createElementNS(SVGNS, tag);
    setAttrs(node, attrs, true);
    add(node, children);
    return node;
  }

  function tip(text) {
    return s("title", { text });
  }

  function secs(ms) {
    if (ms == null) return "?";
    const v = ms / 1000;
    let out;
    if (Number.isInteger(v)) out = String(v);
    else if (Math.abs(v) < 10) out = v.toFixed(2).replace(/0$/, "");
    else out = v.toFixed(1);
    return out + " s";
  }

  function duration(ms) {
    if (ms == null) return "?";
    if (ms < 120000) return secs(ms);
    const total = Math.round(ms / 1000);
    const m = Math.floor(total / 60);
    return `${secs(ms)} (${m} min ${total - m * 60} s)`;
  }

  function span(a, b) {
    return b == null ? `${secs(a)} → never ended` : `${secs(a)} → ${secs(b)} (${secs(b - a)})`;
  }

  function token(value) {
    return String(value == null ? "none" : value)
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, "-");
  }

  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many || one + "s"}`;
  }

  function shorten(text, max) {
    text = String(text);
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  function shortPlugin(name) {
    const text = String(name);
    const dot = text.lastIndexOf(".");
    return dot >= 0 ? text.slice(dot + 1) : text;
  }

  function valueText(value) {
    if (typeof value === "string") return value;
    return JSON.stringify(value);
  }

  function badge(verdict) {
    const v = token(verdict);
    return h("span", { class: `badge badge-${v}`, text: v });
  }

  const VERDICT_WORD = { pass: "passed", fail: "failed", skip: "skipped" };

  // --- page skeleton ---------------------------------------------------------------------

  const summary = doc.summary || {};
  const header = h(
    "header",
    { class: "page-header" },
    h(
      "p",
      { class: "page-meta" },
      `${doc.kind || "run"} · agent ${doc.agent || "?"} · ${plural(listed.length, "scenario")}`,
    ),
    h(
      "p",
      { class: "counts" },
      ["passed", "failed", "skipped"].map((k) =>
        h("span", { class: `count count-${k}` }, h("strong", { text: summary[k] || 0 }), ` ${k}`),
      ),
    ),
  );
  if (doc.version !== 1) {
    add(header, h("p", { class: "warning", text: `Unknown report version ${doc.version}.` }));
  }

  const filter = h("input", {
    id: "filter",
    type: "search",
    placeholder: "Filter by name, path or outcome",
    "aria-label": "Filter scenarios by text",
    autocomplete: "off",
    spellcheck: "false",
  });
  const verdictFilter = h(
    "select",
    { id: "verdict-filter", "aria-label": "Filter scenarios by verdict" },
    h("option", { value: "", text: "All verdicts" }),
    h("option", { value: "fail", text: "Failed" }),
    h("option", { value: "pass", text: "Passed" }),
    h("option", { value: "skip", text: "Skipped" }),
  );
  const shown = h("span", { id: "shown-count", class: "shown-count", "aria-live": "polite" });
  const controls = h("div", { class: "controls", role: "search" }, filter, verdictFilter, shown);

  // The legend: filled once the timeline's drawing is defined (see fillLegend).
  const legend = h("div", { class: "legend", role: "group", "aria-label": "Legend" });

  // --- summary table ---------------------------------------------------------------------

  const rows = new Map(); // id -> tr
  const tbody = h("tbody");
  for (const sc of listed) {
    const id = String(sc.id);
    const outcome = sc.verdict === "skip" && !sc.outcome ? sc.skip_reason || "" : sc.outcome;
    const ran = sc.timeline != null && sc.boots != null && sc.virtual_ms != null;
    const row = h(
      "tr",
      {
        class: "scenario-row",
        dataset: { verdict: token(sc.verdict), id },
      },
      h("td", null, badge(sc.verdict)),
      h("td", { class: "name" }, h("a", { href: "#" + id, class: "scenario-link", text: sc.name })),
      h("td", { class: "num", text: ran ? sc.boots : "" }),
      h("td", { class: "outcome", text: outcome || "" }),
      h("td", { class: "num", text: ran ? duration(sc.virtual_ms) : "" }),
    );
    row._text = [sc.name, sc.path, outcome].join(" ").toLowerCase();
    rows.set(id, row);
    tbody.appendChild(row);
  }
  const table = h(
    "table",
    { id: "summary", class: "summary" },
    h("caption", { text: "Scenarios" }),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        ["Verdict", "Scenario", "Boots", "Outcome", "Virtual time"].map((t) =>
          h("th", { scope: "col", text: t }),
        ),
      ),
    ),
    tbody,
  );

  add(app, [header, controls, table, legend]);

  // --- scenario sections -----------------------------------------------------------------

  const sections = new Map(); // id -> section element
  const lazy =
    "IntersectionObserver" in window
      ? new IntersectionObserver(
          (entries) => {
            for (const entry of entries) {
              if (!entry.isIntersecting) continue;
              const section = entry.target;
              if (section._details.open) renderScenario(section);
            }
          },
          { rootMargin: "400px 0px" },
        )
      : null;

  function nearView(node) {
    const box = node.getBoundingClientRect();
    return box.bottom > -400 && box.top < window.innerHeight + 400;
  }

  function scenarioHeading(sc) {
    if (sc.cut_of != null) {
      const ref = byId.get(String(sc.cut_of));
      return `cut ${sc.cut} of ${ref ? ref.name : sc.cut_of}`;
    }
    return sc.name;
  }

  function makeSection(sc) {
    const id = String(sc.id);
    const body = h("div", { class: "scenario-body" });
    const metaParts = [];
    if (sc.timeline != null && sc.boots != null) metaParts.push(plural(sc.boots, "boot"));
    if (sc.outcome) metaParts.push(sc.outcome);
    if (sc.timeline != null && sc.virtual_ms != null) metaParts.push(duration(sc.virtual_ms));
    const details = h(
      "details",
      { class: "scenario-details" },
      h(
        "summary",
        null,
        badge(sc.verdict),
        h("h2", { id: id + "-h", text: scenarioHeading(sc) }),
        h("span", { class: "scenario-meta", text: metaParts.join(" · ") }),
      ),
    );
    const section = h(
      "section",
      {
        class: "scenario",
        id,
        dataset: { verdict: token(sc.verdict) },
        "aria-labelledby": id + "-h",
      },
      details,
    );
    section._scenario = sc;
    section._details = details;
    // Cheap and important: the unmet expectations, shown at once.
    const failures = Array.isArray(sc.failures) ? sc.failures : [];
    if (failures.length) add(details, failureList(section, sc, failures));
    if (sc.verdict === "skip" && sc.skip_reason) {
      add(details, h("p", { class: "skip-reason" }, "Skipped: ", sc.skip_reason));
    }
    add(details, body);
    section._body = body;
    // Opened by a person, it is in view; opened here (a failure starts open), it is drawn
    // once it nears the viewport.
    details.addEventListener("toggle", () => {
      if (details.open && nearView(section)) renderScenario(section);
    });
    // A failure starts open, and so does the one scenario of a report of one (a trace).
    const alone = listed.length === 1 && sc.cut_of == null;
    if (sc.verdict === "fail" || alone) details.open = true;
    sections.set(id, section);
    if (lazy) lazy.observe(section);
    return section;
  }

  // What the document says about each event seq of a scenario: the marks, the plugins'
  // starts, ends and skips, the services tried. For the failures' links and the event list.
  function seqIndex(sc) {
    if (sc._seqs) return sc._seqs;
    const id = String(sc.id);
    const found = new Map();
    const put = (seq, entry) => {
      if (seq != null && !found.has(seq)) found.set(seq, { seq, ...entry });
    };
    const boots = (sc.timeline && sc.timeline.boots) || [];
    for (const boot of boots) {
      for (const m of boot.marks || []) {
        put(m.seq, {
          boot: boot.number,
          t: m.start_ms,
          kind: m.kind,
          label: m.label,
          bad: !!m.bad,
          el: `${id}-m${m.seq}`,
        });
      }
      for (const ph of boot.phases || []) {
        for (const p of ph.plugins || []) {
          const el = `${id}-p${p.seq}`;
          if (p.outcome === "skipped") {
            put(p.seq, {
              boot: boot.number,
              t: p.start_ms,
              kind: "plugin_skipped",
              label: `${p.plugin} skipped${p.reason ? ": " + p.reason : ""}`,
              el,
            });
            continue;
          }
          put(p.seq, {
            boot: boot.number,
            t: p.start_ms,
            kind: "plugin_start",
            label: `${p.plugin} started (${p.stage || ph.name})`,
            el,
          });
          if (p.end_seq != null) {
            const state = pluginState(p);
            put(p.end_seq, {
              boot: boot.number,
              t: p.end_ms,
              kind: "plugin_end",
              label:
                `${p.plugin} ended: ${STATE_WORD[state]}` + (p.error ? ` (${p.error})` : ""),
              bad: state === "failed",
              el,
            });
          }
        }
        for (const pr of ph.probes || []) {
          put(pr.seq, {
            boot: boot.number,
            t: pr.start_ms,
            kind: "metadata_service_probe",
            label: `${pr.service}: ${pr.result}`,
            bad: pr.result === "error",
            el: `${id}-pr${pr.seq}`,
          });
        }
      }
    }
    sc._seqs = found;
    return found;
  }

  // An explored scenario's failure line that is one of its findings ("<id> (cuts 3, 5)", as
  // the document names it): that finding and its exploration.
  function findingOf(sc, failure) {
    for (const ex of explorations) {
      if (String(ex.scenario) !== String(sc.id) || !Array.isArray(ex.findings)) continue;
      for (const f of ex.findings) {
        const cuts = Array.isArray(f.cuts) ? f.cuts : [];
        const named = `${f.id} (cuts ${cuts.join(", ")})`;
        if (cuts.length && (failure.finding === f.id || failure.text === named)) return { ex, f };
      }
    }
    return null;
  }

  function failureList(section, sc, failures) {
    const list = h("ul", { class: "failures", "aria-label": "Unmet expectations" });
    for (const f of failures) {
      const item = h(
        "li",
        { class: "failure" },
        h("span", { class: "failure-text", text: f.text == null ? String(f) : f.text }),
      );
      const found = f && typeof f === "object" ? findingOf(sc, f) : null;
      if (found) {
        const link = h("a", {
          href: `#explore-${found.ex.scenario}`,
          class: "finding-link",
          text: `show ${found.f.cuts.length === 1 ? "its cut" : "its cuts"} in the cut matrix`,
        });
        link._finding = found;
        item.appendChild(h("p", { class: "failure-finding" }, link));
      }
      const seqs = Array.isArray(f.events) ? f.events : [];
      if (seqs.length) {
        const links = h("ul", { class: "failure-events", "aria-label": "Events that explain it" });
        for (const seq of seqs) {
          const hit = seqIndex(sc).get(seq);
          const label = hit
            ? `boot ${hit.boot} · ${secs(hit.t)} · ${hit.label}`
            : `event ${seq} (not on the timeline)`;
          const link = hit
            ? h("a", {
                href: `#${hit.el}`,
                class: "event-link" + (hit.bad ? " bad" : ""),
                dataset: { seq },
                text: label,
              })
            : h("span", { class: "event-link missing", text: label });
          links.appendChild(h("li", null, link));
        }
        item.appendChild(links);
      }
      list.appendChild(item);
    }
    list.addEventListener("click", (ev) => {
      const finding = ev.target.closest("a.finding-link");
      if (finding) {
        ev.preventDefault();
        showFinding(finding._finding.ex, finding._finding.f);
        return;
      }
      const link = ev.target.closest("a.event-link");
      if (!link) return;
      ev.preventDefault();
      showEvent(section, Number(link.dataset.seq));
      // The address names the item: a link to it, to keep or share.
      history.replaceState(null, "", link.getAttribute("href"));
    });
    return list;
  }

  // Open an exploration's block and highlight the matrix cells of one finding's cuts (and the
  // finding in its list); the first cell is scrolled to and focused.
  function showFinding(ex, f) {
    const block = document.getElementById(`explore-${ex.scenario}`);
    if (!block) return;
    block.hidden = false;
    block.open = true;
    buildLazyDetails(block);
    for (const old of block.querySelectorAll("td.cut.highlight, li.finding.highlight")) {
      old.classList.remove("highlight");
    }
    const cuts = new Set((f.cuts || []).map(Number));
    const cells = [...block.querySelectorAll("td.cut")].filter((cell) =>
      cuts.has(Number(cell.dataset.index)),
    );
    for (const cell of cells) cell.classList.add("highlight");
    for (const li of block.querySelectorAll("li.finding")) {
      if (li._finding === f) li.classList.add("highlight");
    }
    if (!cells.length) return;
    const button = cells[0].querySelector("button");
    if (button) button.focus({ preventScroll: true });
    cells[0].scrollIntoView({ block: "center", behavior: "smooth" });
  }

  // Highlight the mark (or bar) and the rows of one event, and bring it into view. ``el``: the
  // id of the item to show (a link's), when it names one.
  function showEvent(section, seq, el) {
    openSection(section);
    const sc = section._scenario;
    for (const old of section.querySelectorAll(".highlight")) old.classList.remove("highlight");
    const hit = seqIndex(sc).get(seq);
    const find = () => {
      for (const name of [el, hit && hit.el]) {
        const found = name ? document.getElementById(name) : null;
        if (found && section.contains(found) && found.closest("svg")) return found;
      }
      return null;
    };
    let shape = find();
    if (!shape && hit) {
      // Zoomed in, the item may lie outside the window: show the whole boot again.
      for (const svg of section.querySelectorAll("svg.boot-timeline.zoomed")) {
        if (svg.parentNode && svg.parentNode._zoom) svg.parentNode._zoom(null);
      }
      shape = find();
    }
    let target = null;
    if (shape) {
      shape.classList.add("highlight");
      target = shape;
      const bootEl = shape.closest(".boot");
      if (bootEl) describe(bootEl, shape);
    }
    for (const row of section.querySelectorAll(`tr[data-seq="${Number(seq)}"]`)) {
      row.classList.add("highlight");
    }
    if (!target) {
      const events = section.querySelector("details.events");
      if (events) {
        events.open = true;
        buildLazyDetails(events);
        const row = document.getElementById(`${sc.id}-ev${seq}`);
        if (row) {
          row.classList.add("highlight");
          target = row;
        }
      }
    }
    if (target) target.scrollIntoView({ block: "center", behavior: "smooth" });
  }

  function openSection(section) {
    section.hidden = false;
    section._details.open = true;
    renderScenario(section);
  }

  // --- a scenario's heavy content ----------------------------------------------------------

  function renderScenario(section) {
    if (section.dataset.rendered === "true") return;
    section.dataset.rendered = "true";
    if (lazy) lazy.unobserve(section);
    const sc = section._scenario;
    const body = section._body;
    if (sc.path) add(body, h("p", { class: "path" }, h("code", { text: sc.path })));
    const boots = (sc.timeline && sc.timeline.boots) || [];
    if (!sc.timeline) {
      add(body, h("p", { class: "muted", text: "No timeline: the scenario did not run." }));
    } else if (!boots.length) {
      const reason = sc.outcome || sc.skip_reason;
      add(
        body,
        h("p", { class: "no-boots", text: reason ? `No boot ran: ${reason}` : "No boot ran." }),
      );
    }
    // One measure of the width for all the boots' pictures (the body is in the page, open).
    const width = body.clientWidth || 1000;
    let previous = null;
    for (const boot of boots) {
      if (previous) add(body, between(previous, boot));
      add(body, bootBlock(sc, boot, width));
      previous = boot;
    }
    if (boots.length) {
      const known = [...seqIndex(sc).values()].sort((a, b) => a.seq - b.seq);
      add(
        body,
        lazyDetails(`Events on the timeline (${known.length})`, "events", () =>
          indexTable(sc, known),
        ),
      );
    }
  }

  function between(previous, boot) {
    const reboot = (previous.marks || []).find(
      (m) => m.kind === "reboot" || m.kind === "power_loss" || m.kind === "extra_boot",
    );
    const respawn = (boot.marks || []).find((m) => m.kind === "respawn");
    const ended = previous.ended_with || "boot ended";
    // The mark says more than the ending ("reboot, asked for by X" rather than "reboot").
    const parts = [reboot && reboot.label ? reboot.label : ended];
    if (respawn) parts.push(respawn.label);
    return h(
      "div",
      { class: "between-boots" + (reboot && reboot.bad ? " bad" : "") },
      h("span", { class: "arrow", "aria-hidden": "true", text: "↓" }),
      ` ${parts.join(" · ")} — boot ${boot.number} starts at ${secs(boot.start_ms)}`,
    );
  }

  function bootBlock(sc, boot, width) {
    const title = boot.number === 0 ? "Boot 0 · sysprep pass" : `Boot ${boot.number}`;
    const facts = [
      span(boot.start_ms, boot.end_ms),
      `metadata: ${boot.metadata_service || "none"}`,
      `ended: ${boot.ended_with || "?"}`,
    ];
    const block = h(
      "div",
      { class: "boot" },
      h("h3", null, title, h("span", { class: "boot-meta", text: facts.join(" · ") })),
    );
    const holder = h("div", { class: "timeline-holder" });
    const detail = h("p", {
      class: "mark-detail",
      "aria-live": "polite",
      text:
        "Point at or click a bar or mark for its details (or focus the picture and use the " +
        "arrow keys); drag across the picture to zoom in.",
    });
    const reset = h("button", {
      type: "button",
      class: "zoom-reset",
      hidden: true,
      text: "Zoom out",
    });
    // Under the picture: how its axis reads, and a switch to plain virtual time.
    const ordered = hasOrder(boot);
    const note = h("span", { class: "axis-text" });
    const toggle = h("input", { type: "checkbox", class: "axis-linear" });
    const axisNote = h(
      "p",
      { class: "axis-note" },
      note,
      ordered
        ? h("label", { class: "axis-switch" }, toggle, " strictly linear virtual time")
        : null,
    );
    const draw = (domain) => {
      const linear = toggle.checked;
      holder.replaceChildren(timeline(sc, boot, width, domain, linear));
      reset.hidden = !domain;
      note.textContent =
        ordered && !linear
          ? "Axis: virtual time to scale where it passes (solid axis); events at the same " +
            "instant are spread out in the order they happened (dotted axis). "
          : "Axis: virtual time, linear (events at the same instant share one position). ";
    };
    reset.addEventListener("click", () => draw(null));
    toggle.addEventListener("change", () => draw(null));
    holder._zoom = draw;
    draw(null);
    add(block.firstChild, reset);
    add(block, [holder, axisNote, detail]);

    const osMarks = (boot.marks || []).filter((m) => m.kind === "os");
    if (osMarks.length) {
      add(
        block,
        lazyDetails(`OS changes (${osMarks.length})`, "os-changes", () => osTable(sc, osMarks)),
      );
    }
    if (Array.isArray(boot.changes)) {
      add(
        block,
        lazyDetails(
          `Machine state before → after (${boot.changes.length})`,
          "state-changes",
          () => changesTable(boot.changes),
        ),
      );
    }
    return block;
  }

  function lazyDetails(label, cls, build) {
    const details = h("details", { class: cls }, h("summary", { text: label }));
    details._build = build;
    details.addEventListener("toggle", () => {
      if (details.open) buildLazyDetails(details);
    });
    return details;
  }

  function buildLazyDetails(details) {
    if (!details._build) return;
    const build = details._build;
    details._build = null;
    details.appendChild(build());
  }

  function osTable(sc, marks) {
    const id = String(sc.id);
    return h(
      "table",
      { class: "data os-table" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["Time", "Plugin", "Change"].map((t) => h("th", { scope: "col", text: t })),
        ),
      ),
      h(
        "tbody",
        null,
        marks.map((m) =>
          h(
            "tr",
            { dataset: { seq: m.seq }, class: m.bad ? "bad" : null, id: `${id}-os${m.seq}` },
            h("td", { class: "num", text: secs(m.start_ms) }),
            h("td", { text: m.plugin || m.phase || "" }),
            h("td", { class: "mono", text: m.label }),
          ),
        ),
      ),
    );
  }

  function changesTable(changes) {
    if (!changes.length) return h("p", { class: "muted", text: "Nothing changed." });
    const value = (v) =>
      v === "absent"
        ? h("td", { class: "absent", text: "absent" })
        : h("td", { class: "mono", text: valueText(v) });
    return h(
      "table",
      { class: "data changes-table" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["Where", "Path", "Before", "After"].map((t) => h("th", { scope: "col", text: t })),
        ),
      ),
      h(
        "tbody",
        null,
        changes.map((c) => {
          const path = Array.isArray(c.path) ? c.path.map(String) : [String(c.path)];
          return h(
            "tr",
            null,
            h("td", { text: path[0] || "" }),
            h("td", { class: "mono", text: path.slice(1).join(" › ") }),
            value(c.before),
            value(c.after),
          );
        }),
      ),
    );
  }

  function indexTable(sc, entries) {
    const id = String(sc.id);
    const body = h("tbody");
    for (const e of entries) {
      body.appendChild(
        h(
          "tr",
          { id: `${id}-ev${e.seq}`, dataset: { seq: e.seq }, class: e.bad ? "bad" : null },
          h("td", { class: "num", text: e.seq }),
          h("td", { class: "num", text: e.boot }),
          h("td", { class: "num", text: secs(e.t) }),
          h("td", { text: e.kind }),
          h("td", { class: "mono", text: e.label }),
        ),
      );
    }
    return h(
      "table",
      { class: "data events-table" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["#", "Boot", "Time", "Kind", "What"].map((t) => h("th", { scope: "col", text: t })),
        ),
      ),
      body,
    );
  }

  // --- the timeline of one boot (SVG) ------------------------------------------------------

  const GUTTER = 240;
  const LANE_H = 22;
  const ROW_H = 15;
  const AXIS_H = 26;
  const PAD_TOP = 8;
  const PAD_RIGHT = 18;
  const VERTICAL = new Set([
    "reboot",
    "respawn",
    "power_loss",
    "exit",
    "hung",
    "not_modelled",
    "extra_boot",
    "reboot_loop",
  ]);

  function pluginState(p) {
    if (p.outcome === "failed") return "failed";
    if (p.outcome === "running" || p.end_ms == null) return "interrupted";
    if (p.status === 2) return "next-boot";
    return "done";
  }

  const STATE_WORD = {
    done: "done",
    "next-boot": "run again next boot",
    failed: "failed",
    interrupted: "interrupted (never ended)",
  };

  function phaseState(ph) {
    if (ph.kind === "discovery") {
      if (ph.end_ms == null) return "interrupted";
      return ph.verdict && ph.verdict !== "none" ? "found" : "none";
    }
    if (ph.end_ms == null || ph.verdict === "interrupted") return "interrupted";
    return ph.verdict === "failed" ? "failed" : "ok";
  }

  function niceStep(range, count) {
    const raw = range / Math.max(1, count);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
    return 10 * power;
  }

  // --- the timeline's horizontal axis -------------------------------------------------------
  //
  // Most boots take no virtual time at all but for a few waits: on a linear time axis all
  // their work piles up on one pixel. The order axis keeps virtual time where it passes and
  // spreads the events of one instant in the order they happened. Every edge of a drawn item
  // is a point (t_ms, seq) (the model gives each edge its event's seq); along the boot's
  // points, in event order, each stretch where the virtual clock moves is drawn to scale
  // (waits keep their proportions among themselves), and each step from one event to the
  // next at the same instant gets the same small gap. The gaps take the width they need
  // (ORDER_GAP px each) but never more than ORDER_SHARE of it while some time passed: a long
  // wait still looks far longer than a burst of instant work. A boot that took no time is
  // all order. Positions are in "units" (the plot's pixels, unzoomed); zoom shows a range of
  // them. The linear axis (a toggle under each picture) is virtual time alone.
  const ORDER_GAP = 14;
  const ORDER_SHARE = 0.5;

  // Every (t_ms, seq) edge of what a boot draws, in event order (then time: a delayed answer
  // spans time at its one seq).
  function edgePoints(boot, last) {
    const lastSeq = boot.last_seq;
    const points = [];
    const put = (t, q) => {
      if (Number.isFinite(t) && Number.isFinite(q)) points.push([q, t]);
    };
    put(boot.start_ms, boot.first_seq);
    put(boot.end_ms, lastSeq);
    put(last, lastSeq);
    for (const ph of boot.phases || []) {
      put(ph.start_ms, ph.start_seq);
      put(ph.end_ms == null ? last : ph.end_ms, ph.end_seq == null ? lastSeq : ph.end_seq);
      for (const p of ph.plugins || []) {
        put(p.start_ms, p.seq);
        if (p.outcome === "skipped") continue;
        put(p.end_ms == null ? last : p.end_ms, p.end_seq == null ? lastSeq : p.end_seq);
      }
      for (const pr of ph.probes || []) {
        put(pr.start_ms, pr.start_seq == null ? ph.start_seq : pr.start_seq);
        put(pr.end_ms, pr.seq);
      }
    }
    for (const m of boot.marks || []) {
      put(m.start_ms, m.seq);
      put(m.end_ms == null ? m.start_ms : m.end_ms, m.end_seq == null ? m.seq : m.end_seq);
    }
    points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return points.filter(
      (p, i) => i === 0 || p[0] !== points[i - 1][0] || p[1] !== points[i - 1][1],
    );
  }

  // Does the document give this boot's order (documents written before it did not)?
  function hasOrder(boot) {
    if (!Number.isInteger(boot.first_seq) || !Number.isInteger(boot.last_seq)) return false;
    return (boot.phases || []).every((ph) => Number.isInteger(ph.start_seq));
  }

  function orderAxis(boot, t0, last, plotW) {
    const points = edgePoints(boot, last);
    // Walk the points: how many instant steps and how much time lie before each.
    let clock = t0;
    let instants = 0;
    let time = 0;
    const steps = points.map(([q, t], i) => {
      if (i > 0) {
        const dq = q - points[i - 1][0];
        const dt = Math.max(0, t - clock);
        instants += dt > 0 ? Math.max(0, dq - 1) : dq;
        time += dt;
        clock += dt;
      }
      return { q, t, clock, instants, time };
    });
    const share = time > 0 ? Math.min(ORDER_SHARE, (instants * ORDER_GAP) / plotW) : 1;
    const gap = instants ? (share * plotW) / instants : 0;
    const scale = time > 0 ? ((1 - share) * plotW) / time : 0;
    const byKey = new Map();
    for (const step of steps) {
      step.u = step.instants * gap + step.time * scale;
      byKey.set(`${step.q}:${step.t}`, step.u);
    }
    const total = steps.length ? steps[steps.length - 1].u : 0;
    const at = (t, q) => {
      const known = byKey.get(`${q}:${t}`);
      if (known != null) return known;
      // Not an edge of the boot (a document that says less): the last point before it.
      let u = 0;
      for (const step of steps) {
        if (step.q > q || (step.q === q && step.t > t)) break;
        u = step.u;
      }
      return u;
    };
    // The virtual time at a position: a step's gap comes first, then its time.
    const timeAt = (u) => {
      let t = t0;
      for (let i = 1; i < steps.length; i += 1) {
        const a = steps[i - 1];
        const b = steps[i];
        if (u < a.u) break;
        t = a.clock;
        const timed = (b.time - a.time) * scale;
        const from = b.u - timed;
        if (u >= from && timed > 0) {
          t = a.clock + Math.min(1, (u - from) / timed) * (b.clock - a.clock);
        }
        if (u >= b.u) t = b.clock;
      }
      return t;
    };
    // Where the clock moved: each stretch of time, drawn on the axis as a solid line (one
    // stretch for waits that follow one another with no instant work between them).
    const stretches = [];
    for (let i = 1; i < steps.length; i += 1) {
      const a = steps[i - 1];
      const b = steps[i];
      if (b.clock <= a.clock) continue;
      const from = b.u - (b.time - a.time) * scale;
      const previous = stretches[stretches.length - 1];
      if (previous && from - previous.u1 < 1e-6) {
        previous.u1 = b.u;
        previous.t1 = b.clock;
      } else {
        stretches.push({ u0: from, u1: b.u, t0: a.clock, t1: b.clock });
      }
    }
    // Ticks: the start, the end of each stretch (where time has advanced) and, in a stretch
    // wide enough, round seconds in between. The first are labelled first.
    const ticks = (u0, u1, pxPerU) => {
      const out = [{ u: 0, t: t0, rank: 0 }];
      for (const st of stretches) {
        out.push({ u: st.u1, t: st.t1, rank: 0 });
        const w = (Math.min(st.u1, u1) - Math.max(st.u0, u0)) * pxPerU;
        if (w < 180) continue;
        const step = niceStep(st.t1 - st.t0, Math.floor(w / 90));
        for (let t = Math.ceil(st.t0 / step) * step; t < st.t1; t += step) {
          if (t <= st.t0) continue;
          out.push({ u: st.u0 + (t - st.t0) * scale, t, rank: 1 });
        }
      }
      return out.filter((k) => k.u >= u0 - 1e-9 && k.u <= u1 + 1e-9);
    };
    return { linear: false, total, at, timeAt, ticks, stretches, gap };
  }

  function linearAxis(t0, t1, plotW) {
    const scale = plotW / (t1 - t0);
    return {
      linear: true,
      total: plotW,
      at: (t) => (t - t0) * scale,
      timeAt: (u) => t0 + u / scale,
      ticks: (u0, u1, pxPerU) => {
        const a = t0 + u0 / scale;
        const b = t0 + u1 / scale;
        const step = niceStep(b - a, Math.max(2, Math.floor(((u1 - u0) * pxPerU) / 90)));
        const out = [];
        for (let t = Math.ceil(a / step) * step; t <= b + 1e-9; t += step) {
          out.push({ u: (t - t0) * scale, t: Math.round(t * 1000) / 1000, rank: 0 });
        }
        return out;
      },
      stretches: [{ u0: 0, u1: plotW, t0, t1 }],
      gap: 0,
    };
  }

  // A mark's shape, added to its group ``g`` at (mx, cy) of a plot from ``top`` to ``bottom``
  // (``endX()``: where a mark that lasts ends); the layer it is drawn in. The legend draws
  // its samples with it, so that they look like the marks.
  function markShape(g, m, mx, cy, top, bottom, endX) {
    if (VERTICAL.has(m.kind)) {
      g.appendChild(s("line", { x1: mx, x2: mx, y1: top, y2: bottom }));
      g.appendChild(s("path", { d: `M${mx - 5} ${bottom + 1}l5 -7l5 7z` }));
      return "lines";
    }
    if (m.kind === "sleep" || (m.end_ms != null && m.end_ms > m.start_ms)) {
      const ex = endX();
      g.appendChild(s("rect", { x: mx, y: cy - 3, width: Math.max(2, ex - mx), height: 6, rx: 1 }));
      return m.bad ? "bad" : "spans";
    }
    if (m.kind === "http" || m.kind === "config_drive") {
      if (m.fault || m.bad) g.appendChild(s("path", { d: `M${mx} ${cy - 5}l5 5l-5 5l-5 -5z` }));
      else g.appendChild(s("circle", { cx: mx, cy, r: 3.5 }));
    } else if (m.kind === "os") {
      g.appendChild(s("circle", { cx: mx, cy, r: 2.5 }));
    } else if (m.kind === "dhcp" || m.kind === "provisioning") {
      g.appendChild(s("rect", { x: mx - 3.5, y: cy - 3.5, width: 7, height: 7 }));
    } else if (m.kind === "script") {
      g.appendChild(s("path", { d: `M${mx - 4} ${cy + 4}l4 -8l4 8z` }));
    } else {
      g.appendChild(s("path", { d: `M${mx} ${cy - 4}l4 4l-4 4l-4 -4z` }));
    }
    return m.bad ? "bad" : "points";
  }

  function timeline(sc, boot, measured, domain, linear) {
    const id = String(sc.id);
    const phases = boot.phases || [];
    const marks = boot.marks || [];

    // Lanes: one per phase name (the agent's phases before and after the stages share one),
    // then a row per plugin that ran (stages) or service tried (discovery).
    const lanes = [];
    const laneByName = new Map();
    for (const ph of phases) {
      let lane = laneByName.get(ph.name);
      if (!lane) {
        lane = { name: ph.name, phases: [], rows: [], rowByKey: new Map(), probes: [] };
        lanes.push(lane);
        laneByName.set(ph.name, lane);
      }
      lane.phases.push(ph);
      for (const p of ph.plugins || []) {
        if (p.outcome === "skipped") continue;
        if (!lane.rowByKey.has(p.plugin)) {
          const row = { label: shortPlugin(p.plugin), full: p.plugin, kind: "plugin" };
          lane.rows.push(row);
          lane.rowByKey.set(p.plugin, row);
        }
      }
      for (const pr of ph.probes || []) {
        const key = "probe:" + pr.service;
        lane.probes.push(pr);
        lane.probes.sort((a, b) => a.seq - b.seq);
        if (!lane.rowByKey.has(key)) {
          const row = { label: pr.service, full: pr.service, kind: "probe" };
          lane.rows.push(row);
          lane.rowByKey.set(key, row);
        }
      }
    }
    if (!lanes.length) {
      const lane = { name: "boot", phases: [], rows: [], rowByKey: new Map(), probes: [] };
      lanes.push(lane);
      laneByName.set(lane.name, lane);
    }
    let y = PAD_TOP;
    lanes.forEach((lane, index) => {
      lane.index = index;
      lane.y = y;
      y += LANE_H;
      for (const row of lane.rows) {
        row.y = y;
        y += ROW_H;
      }
      lane.bottom = y;
    });
    const plotBottom = y;
    const height = plotBottom + AXIS_H;

    // The time axis: the boot's span, widened to everything drawn in it (or the zoom).
    let t0 = boot.start_ms || 0;
    let t1 = boot.end_ms == null ? t0 : boot.end_ms;
    for (const ph of phases) {
      if (ph.end_ms != null) t1 = Math.max(t1, ph.end_ms);
      for (const p of ph.plugins || []) if (p.end_ms != null) t1 = Math.max(t1, p.end_ms);
      for (const pr of ph.probes || []) if (pr.end_ms != null) t1 = Math.max(t1, pr.end_ms);
    }
    for (const m of marks) t1 = Math.max(t1, m.end_ms == null ? m.start_ms : m.end_ms);
    const last = t1; // where what never ended is drawn to
    const lastSeq = boot.last_seq;
    if (t1 - t0 < 1000) t1 = t0 + 1000;
    const width = Math.max(measured, GUTTER + 320);
    const plotW = width - GUTTER - PAD_RIGHT;
    // Positions: each edge is (t_ms, seq); the axis turns it into units, the zoom (a range
    // of units) into pixels.
    const ordered = !linear && hasOrder(boot);
    const axisOf = ordered ? orderAxis(boot, t0, last, plotW) : linearAxis(t0, t1, plotW);
    let [u0, u1] = domain || [0, Math.max(axisOf.total, 1)];
    if (u1 - u0 < 2) u1 = u0 + 2;
    const pxPerU = plotW / (u1 - u0);
    const ux = (u) => GUTTER + (Math.min(Math.max(u, u0), u1) - u0) * pxPerU;
    const unit = (t, q) => axisOf.at(t, q);
    const x = (t, q) => ux(unit(t, q));
    // An end: what never ended is drawn to the boot's last instant and event.
    const endUnit = (t, q) => (t == null ? unit(last, lastSeq) : unit(t, q));
    const endX = (t, q) => ux(endUnit(t, q));
    // Zoomed, what lies outside the window is left out rather than piled at its edges.
    const inside = (ta, qa, tb, qb) =>
      !domain || (endUnit(tb, qb) >= u0 - 1e-9 && unit(ta, qa) <= u1 + 1e-9);
    const v0 = axisOf.timeAt(u0);
    const v1 = axisOf.timeAt(u1);

    const root = s("svg", {
      class: "boot-timeline" + (domain ? " zoomed" : ""),
      width: "100%",
      viewBox: `0 0 ${width} ${height}`,
      preserveAspectRatio: "xMinYMin meet",
      role: "group",
      tabindex: 0,
      "aria-label":
        `Boot ${boot.number} timeline, virtual seconds ${secs(v0)} to ${secs(v1)}` +
        (ordered ? ", events at the same instant spread out in the order they happened" : "") +
        ". The arrow keys move between its bars and marks in time order.",
      dataset: { boot: boot.number, axis: ordered ? "order" : "linear" },
    });
    root._scale = { u0, u1, width, plotW };
    // What the arrow keys move between (see the keyboard's part): [start_ms, seq, element],
    // put in time order on the first key press.
    const items = [];
    root._items = items;
    root.appendChild(
      tip(
        `Boot ${boot.number}: ${plural(phases.length, "phase")}, ` +
          `${plural(marks.length, "mark")}; ` +
          `ended: ${boot.ended_with || "?"}`,
      ),
    );

    // Backgrounds and lane labels.
    const back = s("g", { class: "lanes" });
    const labels = s("g", { class: "labels" });
    for (const lane of lanes) {
      back.appendChild(
        s("rect", {
          class: `lane-bg lane-${lane.index % 2 ? "odd" : "even"}`,
          x: 0,
          y: lane.y,
          width,
          height: lane.bottom - lane.y,
        }),
      );
      const total = lane.phases.reduce(
        (sum, ph) => sum + ((ph.end_ms == null ? last : ph.end_ms) - ph.start_ms),
        0,
      );
      labels.appendChild(
        s(
          "text",
          { class: "lane-label", x: 8, y: lane.y + LANE_H / 2 },
          shorten(lane.name, 24),
          tip(`${lane.name}: ${secs(total)} in all`),
        ),
      );
      labels.appendChild(
        s("text", {
          class: "lane-time",
          x: GUTTER - 8,
          y: lane.y + LANE_H / 2,
          "text-anchor": "end",
          text: secs(total),
        }),
      );
      for (const row of lane.rows) {
        labels.appendChild(
          s(
            "text",
            { class: `row-label row-${row.kind}`, x: 20, y: row.y + ROW_H / 2 },
            shorten(row.label, 30),
            tip(row.full),
          ),
        );
      }
    }
    root.appendChild(back);

    // Grid and axis: the axis line is solid where virtual time passes (to scale) and dotted
    // where events of one instant are spread out in their order; labels where time has moved.
    const grid = s("g", { class: "grid" });
    const axis = s("g", { class: "axis", "aria-hidden": "true" });
    axis.appendChild(
      s("line", {
        class: "axis-order",
        x1: GUTTER,
        x2: GUTTER + plotW,
        y1: plotBottom,
        y2: plotBottom,
      }),
    );
    for (const st of axisOf.stretches) {
      if (st.u1 < u0 || st.u0 > u1) continue;
      axis.appendChild(
        s(
          "line",
          { class: "axis-time", x1: ux(st.u0), x2: ux(st.u1), y1: plotBottom, y2: plotBottom },
          tip(`${secs(st.t0)} → ${secs(st.t1)}: ${secs(st.t1 - st.t0)} of virtual time`),
        ),
      );
    }
    const placed = [];
    const said = new Set();
    const ticks = axisOf.ticks(u0, u1, pxPerU);
    // Zoomed in, the left edge says where in time the window starts.
    if (domain && !axisOf.linear) ticks.push({ u: u0, t: v0, rank: 0 });
    ticks.sort((a, b) => a.rank - b.rank || a.u - b.u);
    for (const tick of ticks) {
      const tx = ux(tick.u);
      const text = secs(tick.t);
      const half = (text.length * 6.6) / 2 + 4;
      const right = GUTTER + plotW + PAD_RIGHT - 2 * half;
      const left = Math.max(GUTTER - 12, Math.min(tx - half, right));
      const free = !said.has(text) && placed.every(([a, b]) => left + 2 * half <= a || left >= b);
      if (tick.rank > 0 && !free) continue;
      axis.appendChild(s("line", { x1: tx, x2: tx, y1: plotBottom, y2: plotBottom + 4 }));
      if (!free) continue;
      placed.push([left, left + 2 * half]);
      said.add(text);
      grid.appendChild(s("line", { x1: tx, x2: tx, y1: PAD_TOP, y2: plotBottom }));
      axis.appendChild(
        s("text", { x: left + half, y: plotBottom + 16, "text-anchor": "middle", text }),
      );
    }
    root.appendChild(grid);
    root.appendChild(labels);

    // Phases, plugins, probes, skipped plugins.
    const bars = s("g", { class: "bars" });
    for (const ph of phases) {
      const lane = laneByName.get(ph.name);
      if (inside(ph.start_ms, ph.start_seq, ph.end_ms, ph.end_seq)) {
        const state = phaseState(ph);
        const x0 = x(ph.start_ms, ph.start_seq);
        const words = [
          `${ph.name} (${ph.kind}): ${ph.verdict}`,
          span(ph.start_ms, ph.end_ms),
          ph.reboot ? "reboot requested" : null,
        ];
        bars.appendChild(
          s(
            "rect",
            {
              class: `phase phase-${token(ph.kind)} phase-${state}`,
              x: x0,
              y: lane.y + 3,
              width: Math.max(2, endX(ph.end_ms, ph.end_seq) - x0),
              height: LANE_H - 6,
              rx: 3,
            },
            tip(words.filter(Boolean).join(" · ")),
          ),
        );
        if (ph.reboot) {
          const rx = endX(ph.end_ms, ph.end_seq);
          bars.appendChild(
            s(
              "path",
              { class: "phase-reboot", d: `M${rx} ${lane.y + 3}l-7 0l7 8z` },
              tip(`${ph.name} asked for a reboot`),
            ),
          );
        }
      }
      for (const p of ph.plugins || []) {
        const pEnd = p.outcome === "skipped" ? p.seq : p.end_seq;
        if (!inside(p.start_ms, p.seq, p.end_ms, pEnd)) continue;
        if (p.outcome === "skipped") {
          const tx = x(p.start_ms, p.seq);
          const line = bars.appendChild(
            s(
              "line",
              {
                class: "plugin-skipped",
                x1: tx,
                x2: tx,
                y1: lane.y + 4,
                y2: lane.y + LANE_H - 4,
                id: `${id}-p${p.seq}`,
                dataset: { seq: p.seq },
              },
              tip(`${p.plugin} skipped${p.reason ? ": " + p.reason : ""} at ${secs(p.start_ms)}`),
            ),
          );
          items.push([p.start_ms, p.seq, line]);
          continue;
        }
        const row = lane.rowByKey.get(p.plugin);
        const state = pluginState(p);
        const px = x(p.start_ms, p.seq);
        const info = [
          `${p.plugin} in ${p.stage || ph.name}: ${STATE_WORD[state]}`,
          p.status != null ? `status ${p.status}` : null,
          p.reboot ? "reboot requested" : null,
          span(p.start_ms, p.end_ms),
          p.error ? `error: ${p.error}` : null,
        ];
        const bar = bars.appendChild(
          s(
            "rect",
            {
              class: `plugin-bar plugin-${state}${p.reboot ? " plugin-reboot" : ""}`,
              x: px,
              y: row.y + 2,
              width: Math.max(5, endX(p.end_ms, p.end_seq) - px),
              height: ROW_H - 4,
              rx: 2,
              id: `${id}-p${p.seq}`,
              dataset: { seq: p.seq },
            },
            tip(info.filter(Boolean).join(" · ")),
          ),
        );
        items.push([p.start_ms, p.seq, bar]);
      }
      for (const pr of ph.probes || []) {
        const prFrom = pr.start_seq == null ? ph.start_seq : pr.start_seq;
        if (!inside(pr.start_ms, prFrom, pr.end_ms, pr.seq)) continue;
        const row = lane.rowByKey.get("probe:" + pr.service);
        const px = x(pr.start_ms, prFrom);
        const probeBar = bars.appendChild(
          s(
            "rect",
            {
              class: `probe probe-${token(pr.result)}`,
              x: px,
              y: row.y + 2,
              width: Math.max(5, endX(pr.end_ms, pr.seq) - px),
              height: ROW_H - 4,
              rx: 2,
              id: `${id}-pr${pr.seq}`,
              dataset: { seq: pr.seq },
            },
            tip(
              `${pr.service}: ${pr.result} · ${span(pr.start_ms, pr.end_ms)} · ` +
                `${plural(pr.requests, "request")}, ${plural(pr.faults, "fault")}, ` +
                `waited ${secs(pr.waited_ms)}`,
            ),
          ),
        );
        items.push([pr.start_ms, prFrom == null ? pr.seq : prFrom, probeBar]);
      }
    }
    root.appendChild(bars);

    // Marks: in their plugin's row when it has one, in the row of the service being tried
    // when one was, else in their phase's lane.
    const rowOf = (m, lane) => {
      if (m.plugin != null && lane.rowByKey.has(m.plugin)) return lane.rowByKey.get(m.plugin);
      // A service is tried from the previous one's result up to its own (the probe event).
      const probe = lane.probes.find((pr) => pr.seq >= m.seq);
      return probe ? lane.rowByKey.get("probe:" + probe.service) : null;
    };
    const spans = s("g", { class: "marks spans" });
    const points = s("g", { class: "marks points" });
    const bad = s("g", { class: "marks bad-marks" });
    const lines = s("g", { class: "marks lines" });
    const layers = { spans, points, lines, bad };
    const seen = new Set();
    for (const m of marks) {
      const mEnd = m.end_seq == null ? m.seq : m.end_seq;
      if (!inside(m.start_ms, m.seq, m.end_ms == null ? m.start_ms : m.end_ms, mEnd)) continue;
      const lane = laneByName.get(m.phase) || lanes[0];
      const row = rowOf(m, lane);
      const cy = row ? row.y + ROW_H / 2 : lane.y + LANE_H / 2;
      const mx = x(m.start_ms, m.seq);
      const attrs = {
        class: `mark mark-${token(m.kind)}${m.bad ? " bad" : ""}${m.fault ? " fault" : ""}`,
        dataset: { seq: m.seq },
      };
      if (!seen.has(m.seq)) {
        attrs.id = `${id}-m${m.seq}`;
        seen.add(m.seq);
      }
      const words = [m.label, `at ${secs(m.start_ms)}`];
      if (m.end_ms != null && m.end_ms !== m.start_ms) words[1] = span(m.start_ms, m.end_ms);
      if (m.plugin) words.push(m.plugin);
      else if (m.phase) words.push(m.phase);
      if (m.fault) words.push(`injected fault: ${m.fault}`);
      const g = s("g", attrs, tip(words.join(" · ")));
      const mEndX = () => endX(m.end_ms == null ? m.start_ms : m.end_ms, mEnd);
      const layer = markShape(g, m, mx, cy, PAD_TOP, plotBottom, mEndX);
      layers[layer].appendChild(g);
      items.push([m.start_ms, m.seq, g]);
    }
    root.appendChild(spans);
    root.appendChild(points);
    root.appendChild(lines);
    root.appendChild(bad);
    root.appendChild(axis);
    return root;
  }

  // Zoom: drag across a timeline to see that stretch of time; "Zoom out" or a double click
  // shows the whole boot again.
  let drag = null;

  function svgX(svg, clientX) {
    const box = svg.getBoundingClientRect();
    return ((clientX - box.left) / box.width) * svg._scale.width;
  }

  // The axis unit under a point of the picture (zoom ranges are in units: see orderAxis).
  function unitAt(svg, sx) {
    const { u0, u1, plotW } = svg._scale;
    const f = Math.min(Math.max((sx - GUTTER) / plotW, 0), 1);
    return u0 + f * (u1 - u0);
  }

  document.addEventListener("mousedown", (ev) => {
    if (ev.button !== 0 || !ev.target.closest) return;
    const svg = ev.target.closest("svg.boot-timeline");
    if (!svg || !svg._scale) return;
    const sx = svgX(svg, ev.clientX);
    if (sx < GUTTER) return;
    const band = s("rect", { class: "zoom-band", x: sx, y: 0, width: 0, height: "100%" });
    svg.appendChild(band);
    drag = { svg, band, from: sx, to: sx };
    ev.preventDefault();
  });

  document.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    drag.to = Math.max(GUTTER, svgX(drag.svg, ev.clientX));
    drag.band.setAttribute("x", Math.min(drag.from, drag.to));
    drag.band.setAttribute("width", Math.abs(drag.to - drag.from));
  });

  document.addEventListener("mouseup", () => {
    if (!drag) return;
    const { svg, band, from, to } = drag;
    drag = null;
    band.remove();
    if (Math.abs(to - from) < 6) return;
    const holder = svg.parentNode;
    const a = unitAt(svg, Math.min(from, to));
    const b = unitAt(svg, Math.max(from, to));
    if (holder && holder._zoom) holder._zoom([a, b]);
  });

  document.addEventListener("dblclick", (ev) => {
    const svg = ev.target.closest && ev.target.closest("svg.boot-timeline.zoomed");
    if (svg && svg.parentNode && svg.parentNode._zoom) svg.parentNode._zoom(null);
  });

  // Hover, click or the arrow keys on anything with a <title> in a timeline: its text below
  // the picture (an aria-live line: said when the keys move to it).
  function describe(bootEl, target, prefix) {
    const line = bootEl && bootEl.querySelector(".mark-detail");
    const title = target.querySelector(":scope > title");
    if (line && title) line.textContent = (prefix || "") + title.textContent;
  }

  function timelineTarget(ev) {
    const svg = ev.target.closest && ev.target.closest("svg.boot-timeline");
    if (!svg) return null;
    const target = ev.target.closest(".mark, .plugin-bar, .phase, .probe, .plugin-skipped");
    return target && svg.contains(target) ? target : null;
  }

  document.addEventListener("mouseover", (ev) => {
    const target = timelineTarget(ev);
    if (target) describe(target.closest(".boot"), target);
  });

  // A mark clicked (or chosen with Enter): it and its rows in the tables are highlighted.
  function selectItem(target) {
    const section = target.closest("section.scenario");
    if (target.classList.contains("mark") && section) {
      for (const old of section.querySelectorAll(".highlight")) old.classList.remove("highlight");
      target.classList.add("highlight");
      const seq = Number(target.dataset.seq);
      for (const row of section.querySelectorAll(`tr[data-seq="${seq}"]`)) {
        row.classList.add("highlight");
      }
    }
  }

  document.addEventListener("click", (ev) => {
    const target = timelineTarget(ev);
    if (target) {
      selectItem(target);
      describe(target.closest(".boot"), target);
      return;
    }
    const row = ev.target.closest && ev.target.closest(".os-table tr[data-seq]");
    if (row) showEvent(row.closest("section.scenario"), Number(row.dataset.seq));
  });

  // Keyboard: each timeline is one tab stop; the arrow keys move between its bars and marks in
  // time order (Home, End: the first and the last; Page Up, Page Down: ten at a time), the
  // line under the picture says which (aria-live), Enter or Space selects it as a click does.
  // The items are listed as the picture is drawn and sorted once, on the first key press.
  function timelineItems(svg) {
    if (!svg._sorted) {
      svg._items.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      svg._sorted = true;
    }
    return svg._items;
  }

  function focusItem(svg, index) {
    const items = timelineItems(svg);
    if (!items.length) return;
    const at = Math.max(0, Math.min(items.length - 1, index));
    if (svg._focus != null) items[svg._focus][2].classList.remove("kb-focus");
    svg._focus = at;
    const target = items[at][2];
    target.classList.add("kb-focus");
    describe(svg.closest(".boot"), target, `${at + 1} of ${items.length}: `);
  }

  const KEY_STEP = { ArrowRight: 1, ArrowLeft: -1, PageDown: 10, PageUp: -10 };

  document.addEventListener("keydown", (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || !ev.target.closest) return;
    const svg = ev.target.closest("svg.boot-timeline");
    if (!svg || !svg._items) return;
    const at = svg._focus;
    const last = svg._items.length - 1;
    if (ev.key in KEY_STEP) {
      const step = KEY_STEP[ev.key];
      focusItem(svg, at == null ? (step > 0 ? 0 : last) : at + step);
    } else if (ev.key === "Home" || ev.key === "End") {
      focusItem(svg, ev.key === "Home" ? 0 : last);
    } else if ((ev.key === "Enter" || ev.key === " ") && at != null) {
      selectItem(svg._items[at][2]);
    } else {
      return;
    }
    ev.preventDefault();
  });

  // --- the legend ---------------------------------------------------------------------------
  //
  // Bars as swatches; marks drawn by the timeline's own markShape, so that they look alike.
  // Each mark entry names the kinds it stands for (data-kinds): every kind the timeline
  // draws has one.
  const LEGEND_BARS = [
    ["sw-done", "plugin done"],
    ["sw-next-boot", "plugin: next boot"],
    ["sw-failed", "plugin failed"],
    ["sw-interrupted", "interrupted"],
    ["sw-skipped", "skipped plugin"],
    ["sw-probe", "service tried"],
  ];
  const LEGEND_MARKS = [
    [
      [{ kind: "http" }, { kind: "http", end: true }],
      "HTTP request, drive search (bar: answer delayed)",
      "http config_drive",
    ],
    [
      [{ kind: "http", bad: true, fault: true }],
      "fault / error (red)",
      "",
    ],
    [[{ kind: "sleep", end: true }], "sleep", "sleep"],
    [
      [{ kind: "dhcp" }, { kind: "dhcp", end: true, bad: true }],
      "DHCP, provisioning (red bar: DHCP unanswered till timeout)",
      "dhcp provisioning",
    ],
    [[{ kind: "probe" }], "service result", "probe"],
    [[{ kind: "script" }], "script", "script"],
    [[{ kind: "os" }], "OS change", "os"],
    [
      [{ kind: "reboot" }, { kind: "hung", bad: true }],
      "reboot, respawn, exit (red: crash, hang, loop)",
      "reboot respawn exit extra_boot hung reboot_loop not_modelled",
    ],
    [[{ kind: "power_loss", bad: true }], "power cut", "power_loss"],
  ];
  const LEGEND_AXIS = [
    ["sw-axis-time", "axis: time passing, to scale"],
    ["sw-axis-order", "axis: one instant, in order"],
  ];
  const LAYER_CLASS = { spans: "spans", points: "points", lines: "lines", bad: "bad-marks" };

  function legendGlyph(samples) {
    const size = 16;
    const width = samples.length * (size + 4) - 4;
    const svg = s("svg", {
      class: "legend-glyph",
      width,
      height: size,
      viewBox: `0 0 ${width} ${size}`,
      "aria-hidden": "true",
      focusable: "false",
    });
    samples.forEach((sample, index) => {
      const left = index * (size + 4);
      const m = { kind: sample.kind, bad: !!sample.bad, start_ms: 0, end_ms: sample.end ? 1 : 0 };
      const g = s("g", {
        class: `mark mark-${token(m.kind)}${m.bad ? " bad" : ""}${sample.fault ? " fault" : ""}`,
      });
      const mx = sample.end ? left + 1 : left + size / 2;
      const layer = markShape(g, m, mx, size / 2, 1, size - 5, () => left + size - 1);
      svg.appendChild(s("g", { class: `marks ${LAYER_CLASS[layer]}` }, g));
    });
    return svg;
  }

  function fillLegend() {
    const item = (swatch, text, kinds) =>
      h("span", { class: "legend-item", dataset: kinds ? { kinds } : null }, swatch, text);
    add(legend, [
      LEGEND_BARS.map(([cls, text]) => item(h("i", { class: `sw ${cls}` }), text)),
      LEGEND_MARKS.map(([samples, text, kinds]) => item(legendGlyph(samples), text, kinds)),
      LEGEND_AXIS.map(([cls, text]) => item(h("i", { class: `sw ${cls}` }), text)),
    ]);
  }

  // --- explorations ------------------------------------------------------------------------

  const OUTCOMES = ["converged", "diverged", "reboot_loop", "crashed", "hung", "not_modelled"];

  function explorationBlock(ex, index) {
    const ref = byId.get(String(ex.scenario));
    const cuts = Array.isArray(ex.cuts) ? ex.cuts : [];
    const counts = new Map();
    for (const c of cuts) counts.set(c.outcome, (counts.get(c.outcome) || 0) + 1);
    const countText = [...counts.entries()]
      .sort((a, b) => OUTCOMES.indexOf(a[0]) - OUTCOMES.indexOf(b[0]))
      .map(([k, n]) => `${n} ${k}`)
      .join(", ");
    const details = h(
      "details",
      {
        class: "exploration",
        dataset: { scenario: ex.scenario },
        id: `explore-${ex.scenario}`,
      },
      h(
        "summary",
        null,
        h("h3", { text: `Power cuts: ${ref ? ref.name : ex.scenario}` }),
        h("span", {
          class: "scenario-meta",
          text:
            `${plural(ex.side_effects || 0, "side effect")} · ` +
            `${plural(cuts.length, "cut")}: ${countText}`,
        }),
      ),
    );
    const runs = h("div", { class: "cut-runs" });
    details._build = () => {
      const box = h("div", { class: "exploration-body" });
      const findings = Array.isArray(ex.findings) ? ex.findings : [];
      if (findings.length) {
        add(
          box,
          h(
            "ul",
            { class: "findings", "aria-label": "Findings" },
            findings.map((f) => {
              const li = h(
                "li",
                { class: `finding outcome-${token(f.outcome)}` },
                h("strong", { text: f.id }),
                ` ${f.outcome} at ${plural((f.cuts || []).length, "cut")}` +
                  ` (${(f.cuts || []).join(", ")})`,
                f.known ? h("span", { class: "known", text: " known" }) : null,
              );
              li._finding = f;
              return li;
            }),
          ),
        );
      }
      // A wide matrix (many outcomes) scrolls on its own rather than widening the page.
      add(box, h("div", { class: "matrix-scroll" }, cutMatrix(ex, cuts, index, runs)));
      add(box, runs);
      return box;
    };
    details.addEventListener("toggle", () => {
      if (details.open) buildLazyDetails(details);
    });
    if (index === 0) details.open = true;
    return details;
  }

  function cutMatrix(ex, cuts, index, runs) {
    const present = OUTCOMES.filter((o) => cuts.some((c) => c.outcome === o));
    for (const c of cuts) if (!present.includes(c.outcome)) present.push(c.outcome);
    const body = h("tbody");
    for (const c of cuts) {
      const words = [
        `cut ${c.index}: ${c.outcome}`,
        `plugin ${c.plugin || "?"}`,
        `effect ${c.effect || "none"}`,
        plural(c.boots || 0, "boot"),
      ];
      if (c.finding) words.push(`finding ${c.finding}`);
      if (Array.isArray(c.diff) && c.diff.length) words.push(...c.diff);
      const row = h("tr", null, h("th", { scope: "row", class: "num", text: c.index }));
      for (const o of present) {
        if (o !== c.outcome) {
          row.appendChild(h("td", { class: "empty" }));
          continue;
        }
        // A cut whose run the report does not hold (explored without keeping the runs):
        // its colour as plain text, saying why, nothing to click or focus.
        const kept = c.run != null && byId.has(String(c.run));
        const missing = "its run is not in this report (the exploration did not keep it)";
        row.appendChild(
          h(
            "td",
            {
              class: `cut outcome-${token(o)}${kept ? "" : " no-run"}`,
              title: kept ? words.join("\n") : [...words, missing].join("\n"),
              dataset: { outcome: o, run: kept ? c.run : "", index: c.index },
            },
            kept
              ? h("button", {
                  type: "button",
                  class: "cut-button",
                  "aria-label": `${words.slice(0, 3).join(", ")}: open its run`,
                })
              : h(
                  "span",
                  { class: "cut-static" },
                  h("span", { class: "visually-hidden", text: `${words[0]}: ${missing}` }),
                ),
          ),
        );
      }
      const diff = Array.isArray(c.diff) ? c.diff : [];
      row.appendChild(h("td", { class: "mono effect", text: c.effect || "" }));
      row.appendChild(h("td", { text: c.plugin || "" }));
      row.appendChild(h("td", { class: "num", text: c.boots == null ? "" : c.boots }));
      row.appendChild(
        h("td", {
          class: "mono diff",
          text: diff.length
            ? shorten(diff[0], 80) + (diff.length > 1 ? ` (+${diff.length - 1})` : "")
            : "",
          title: diff.length ? diff.join("\n") : null,
        }),
      );
      body.appendChild(row);
    }
    const table = h(
      "table",
      {
        class: "cut-matrix",
        id: index === 0 ? "cut-matrix" : `cut-matrix-${ex.scenario}`,
      },
      h("caption", { text: "Cut index × outcome: click a cell to open that run" }),
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          h("th", { scope: "col", text: "Cut" }),
          present.map((o) =>
            h("th", { scope: "col", class: `outcome-head outcome-${token(o)}`, text: o }),
          ),
          ["Effect", "Plugin", "Boots", "Diff"].map((t) => h("th", { scope: "col", text: t })),
        ),
      ),
      body,
    );
    table.addEventListener("click", (ev) => {
      const cell = ev.target.closest("td.cut");
      if (!cell || !cell.dataset.run) return;
      for (const old of table.querySelectorAll("td.cut.selected")) old.classList.remove("selected");
      cell.classList.add("selected");
      openCutRun(cell.dataset.run, runs);
    });
    return table;
  }

  function openCutRun(runId, runs) {
    let section = sections.get(runId);
    if (!section) {
      const sc = byId.get(runId);
      if (!sc) return null;
      section = makeSection(sc);
      runs.insertBefore(section, runs.firstChild);
    }
    openSection(section);
    section.scrollIntoView({ block: "start" });
    return section;
  }

  if (explorations.length) {
    add(
      app,
      h(
        "section",
        { class: "explore", id: "explore", "aria-label": "Power-loss exploration" },
        h("h2", { text: "Power-loss exploration" }),
        explorations.map(explorationBlock),
      ),
    );
    for (const block of app.querySelectorAll("details.exploration[open]")) buildLazyDetails(block);
  }

  fillLegend();
  const main = h("main", { class: "scenarios", "aria-label": "Scenarios" });
  for (const sc of listed) main.appendChild(makeSection(sc));
  add(app, main);

  // --- filtering and navigation --------------------------------------------------------------

  function applyFilter() {
    const text = filter.value.trim().toLowerCase();
    const verdict = verdictFilter.value;
    let count = 0;
    for (const [id, row] of rows) {
      const visible =
        (!verdict || row.dataset.verdict === verdict) && (!text || row._text.includes(text));
      row.hidden = !visible;
      const section = sections.get(id);
      if (section) section.hidden = !visible;
      if (visible) count += 1;
    }
    for (const block of app.querySelectorAll("details.exploration")) {
      const row = rows.get(block.dataset.scenario);
      block.hidden = row ? row.hidden : false;
    }
    shown.textContent = `${count} of ${rows.size} shown`;
  }
  filter.addEventListener("input", applyFilter);
  verdictFilter.addEventListener("change", applyFilter);
  applyFilter();

  function openById(id) {
    let section = sections.get(id);
    if (!section) {
      const sc = byId.get(id);
      if (!sc || sc.cut_of == null) return false;
      const block = document.getElementById(`explore-${sc.cut_of}`);
      if (!block) return false;
      block.open = true;
      buildLazyDetails(block);
      const runs = block.querySelector(".cut-runs");
      return openCutRun(id, runs) != null;
    }
    openSection(section);
    section.scrollIntoView({ block: "start" });
    return true;
  }

  table.addEventListener("click", (ev) => {
    const link = ev.target.closest("a.scenario-link");
    if (!link) return;
    ev.preventDefault();
    const id = link.closest("tr").dataset.id;
    if (openById(id)) history.replaceState(null, "", "#" + id);
  });

  // The address names a scenario (#s1), or an item of its timeline: a mark (#s1-m45), a
  // plugin run (#s1-p30), a probe (#s1-pr11), a row of its tables (#s1-os31, #s1-ev12).
  const ITEM_ID = /^(.+)-(m|p|pr|os|ev)(\d+)$/;

  function fromHash() {
    let id;
    try {
      id = decodeURIComponent(location.hash.slice(1));
    } catch {
      return;
    }
    if (!id) return;
    const item = byId.has(id) ? null : ITEM_ID.exec(id);
    if (!item) {
      if (openById(id)) return;
      // An exploration's block (#explore-s0): opened, as a finding's link leads there.
      const block = document.getElementById(id);
      if (block && block.matches("details.exploration")) {
        block.open = true;
        buildLazyDetails(block);
        block.scrollIntoView({ block: "start" });
      }
      return;
    }
    if (!byId.has(item[1]) || !openById(item[1])) return;
    const section = sections.get(item[1]);
    if (section) showEvent(section, Number(item[3]), id);
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
  app.dataset.state = "ready";
  if (performance.mark) performance.mark("guestsim-ready");
})();
