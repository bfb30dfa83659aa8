// The Aither explorer: read-only views of the chain over this node's JSON-RPC (POST /) and its
// WebSocket (/ws). Every value from the node is put into the page as text (never as HTML).
"use strict";

const view = document.getElementById("view");
const headNumber = document.getElementById("head-number");
const RECENT_BLOCKS = 12;
const TRACE_ROWS = 200;
const DECIMALS = 18n;
let rpcId = 0;
let headHeight = null;

// ---- talking to the node ----------------------------------------------------------------------

async function rpc(method, ...params) {
  const reply = await fetch("/", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method, params }),
  });
  const body = await reply.json();
  if (body.error) {
    const error = new Error(body.error.message);
    error.code = body.error.code;
    throw error;
  }
  return body.result;
}

async function batch(calls) {
  // Many reads in one POST (JSON-RPC batch); each answer or null where the node had none.
  if (!calls.length) return [];
  const first = rpcId + 1;
  const reply = await fetch("/", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(calls.map(([method, ...params]) => ({ jsonrpc: "2.0", id: ++rpcId, method, params }))),
  });
  const answers = await reply.json();
  const byId = new Map(answers.map((a) => [a.id, a]));
  return calls.map((_, i) => {
    const answer = byId.get(first + i);
    return answer && !answer.error ? answer.result : null;
  });
}

async function maybe(method, ...params) {
  try {
    return await rpc(method, ...params);
  } catch (error) {
    if (error.code === -32001) return null; // not found
    throw error;
  }
}

// ---- building the page (text only) ------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const link = (href, text, cls) => el("a", { href, class: cls }, text);
const short = (id) => (typeof id === "string" && id.length > 14 ? id.slice(0, 10) : id);
const num = (quantity) => (quantity === null || quantity === undefined ? "-" : Number(BigInt(quantity)));

function units(quantity, decimals, symbol) {
  // Base units as a decimal amount (as `aither wallet` prints them): 10^decimals a whole one.
  if (quantity === null || quantity === undefined) return "-";
  const value = BigInt(quantity);
  const one = 10n ** BigInt(decimals);
  const frac = (value % one).toString().padStart(Number(decimals), "0").replace(/0+$/, "");
  return `${value / one}${frac ? "." + frac : ""} ${symbol}`;
}

const avm = (quantity) => units(quantity, DECIMALS, "AVM");

function time(quantity) {
  return new Date(num(quantity) * 1000).toISOString().replace("T", " ").replace(".000Z", " UTC");
}

function addressLink(address) {
  return address ? link(`#/address/${address}`, address, "mono") : "-";
}

function facts(rows) {
  return el("table", { class: "facts" },
    rows.map(([name, value]) => el("tr", {}, el("th", {}, name), el("td", { class: "mono" }, value))));
}

function table(headers, rows, wide = []) {
  const cls = (i) => (wide.includes(i) ? "wide" : null);
  return el("table", {},
    el("tr", {}, headers.map((h, i) => el("th", { class: cls(i) }, h))),
    rows.map((cells) => el("tr", {}, cells.map((c, i) => el("td", { class: cls(i) }, c)))));
}

// ---- views ----------------------------------------------------------------------------------

let recent = []; // the home page's blocks, newest first (kept: a new head reads one block)

async function home() {
  const head = num(await rpc("aither_blockNumber"));
  setHead(head);
  const newest = recent.length ? num(recent[0].number) : -1;
  const wanted = [];
  for (let n = head; n > newest && n >= 0 && wanted.length < RECENT_BLOCKS; n--) wanted.push(n);
  const fresh = await batch(wanted.map((n) => ["aither_getBlockByNumber", "0x" + n.toString(16), false]));
  recent = [...fresh.filter(Boolean), ...recent].slice(0, RECENT_BLOCKS);
  return [
    el("h1", {}, "Recent blocks"),
    table(["block", "hash", "txs", "gas", "time", "proposer"],
      recent.map((b) => [
        link(`#/block/${num(b.number)}`, num(b.number)),
        link(`#/block/${b.hash}`, short(b.hash), "mono"),
        b.transactions.length,
        num(b.gasUsed),
        time(b.timestamp),
        addressLink(b.miner),
      ]), [1, 5]),
    el("p", { class: "note" }, "New blocks appear as the node commits them."),
  ];
}

async function block(id) {
  const b = /^0x[0-9a-fA-F]{64}$/.test(id)
    ? await maybe("aither_getBlockByHash", id, true)
    : await maybe("aither_getBlockByNumber", "0x" + Number(id).toString(16), true);
  if (!b) return notFound(`block ${id}`);
  return [
    el("h1", {}, `Block ${num(b.number)}`),
    facts([
      ["hash", b.hash],
      ["parent", num(b.number) > 0 ? link(`#/block/${b.parentHash}`, b.parentHash) : b.parentHash],
      ["time", time(b.timestamp)],
      ["proposer", addressLink(b.miner)],
      ["gas used", num(b.gasUsed)],
      ["size", `${num(b.size)} bytes`],
      ["state root", b.stateRoot],
    ]),
    el("h2", {}, `Transactions (${b.transactions.length})`),
    table(["hash", "kind", "from", "to", "value"],
      b.transactions.map((t) => [
        link(`#/tx/${t.hash}`, short(t.hash), "mono"), t.kind, addressLink(t.from),
        addressLink(t.to), t.value ? avm(t.value) : "-",
      ]), [3]),
  ];
}

async function tx(hash) {
  const t = await maybe("aither_getTransaction", hash);
  if (!t) return notFound(`transaction ${hash}`);
  const receipt = await maybe("aither_getTransactionReceipt", t.hash);
  const status = !receipt ? el("span", {}, "pending")
    : receipt.status === "0x1" ? el("span", { class: "ok" }, "success")
    : el("span", { class: "fail" }, `failed: ${receipt.error || "reverted"}`);
  const rows = [
    ["hash", t.hash],
    ["status", status],
    ["block", receipt ? link(`#/block/${num(receipt.blockNumber)}`, num(receipt.blockNumber)) : "-"],
    ["kind", t.kind],
    ["from", addressLink(t.from)],
    ["to", addressLink(t.to)],
    ["value", t.value ? avm(t.value) : "-"],
    ["nonce", num(t.nonce)],
    ["gas used", receipt ? num(receipt.gasUsed) : "-"],
    ["fee", receipt && receipt.fee ? avm(receipt.fee) : "-"],
  ];
  if (receipt && receipt.contractAddress) rows.push(["agent", addressLink(receipt.contractAddress)]);
  const logs = receipt ? receipt.logs || [] : [];
  const trace = receipt && t.kind === "call" ? await maybe("aither_traceTransaction", t.hash) : null;
  const traceParts = trace ? [
    el("h2", {}, `Trace of ${trace.entry} on ${short(trace.agent)} (${trace.trace.length} instructions)`),
    table(["pc", "opcode", "milligas", "outputs"],
      trace.trace.slice(0, TRACE_ROWS).map((e) => [e.pc, e.opcode, e.gas, JSON.stringify(e.outputs ?? null)])),
    trace.trace.length > TRACE_ROWS ? el("p", { class: "note" }, `first ${TRACE_ROWS} instructions shown`) : null,
  ] : [];
  return [
    el("h1", {}, "Transaction"),
    facts(rows),
    el("h2", {}, `Logs (${logs.length})`),
    logs.length
      ? table(["event", "from", "data"], logs.map((log) => [
        log.event || "-", addressLink(log.address), JSON.stringify(log.args ?? log.data ?? null),
      ]))
      : el("p", { class: "note" }, "No logs."),
    ...traceParts,
  ];
}

async function address(addr) {
  const [account, agent, history] = await Promise.all([
    rpc("aither_getAccount", addr), maybe("aither_getAgent", addr), maybe("aither_getHistory", addr),
  ]);
  const held = Object.keys(account.tokens || {});
  const tokens = held.length ? await rpc("aither_getTokens") : [];
  const decimals = new Map(tokens.map((t) => [t.symbol, t.decimals]));
  const parts = [
    el("h1", {}, agent ? `Agent ${account.address}` : `Account ${account.address}`),
    facts([
      ["balance", avm(account.balance)],
      ["nonce", num(account.nonce)],
      ["tokens", Object.entries(account.tokens || {})
        .map(([symbol, v]) => units(v, decimals.get(symbol) ?? 0, symbol)).join(", ") || "-"],
    ]),
  ];
  if (agent) {
    const [code, policy] = await Promise.all([rpc("aither_getCode", addr), rpc("aither_getPolicy", addr)]);
    parts.push(
      el("h2", {}, "Policy (SECURITY_CHECK)"),
      policy
        ? facts([
          ["callers", policy.callers.join(", ") || "any"],
          ["roles", policy.roles.join(", ") || "none needed"],
          ["spend limit", num(policy.spendLimit) ? `${avm(policy.spendLimit)} per ${policy.periodSec} s` : "none"],
        ])
        : el("p", { class: "note", id: "policy" }, "No policy: every caller passes."),
      el("h2", {}, "Regions"),
      table(["region", "policy", "instructions"],
        agent.regions.map((r) => [r.name, r.policy, `${r.start}..${r.end}`])),
      el("h2", {}, `Code ${short(code.codeId)} (${code.size} bytes)`),
      el("pre", { id: "disassembly" }, code.disassembly),
      ...(await lineage(addr)),
      ...storageBrowser(addr),
    );
  }
  const txs = history || [];
  parts.push(
    el("h2", {}, `History (${txs.length})`),
    table(["tx", "block", "kind", "from", "to", "value"],
      txs.map((t) => [
        link(`#/tx/${t.hash}`, short(t.hash), "mono"),
        link(`#/block/${num(t.blockNumber)}`, num(t.blockNumber)), t.kind,
        addressLink(t.from), addressLink(t.to), t.value ? avm(t.value) : "-",
      ]), [3, 4]),
  );
  return parts;
}

// An SVG line of figures, drawn from zero up; `points` is [[label, value], ...].
function lineChart(points, unit, id) {
  const svgNS = "http://www.w3.org/2000/svg";
  const make = (tag, attrs, text) => {
    const node = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const width = 640;
  const height = 200;
  const pad = 36;
  const top = Math.max(1, ...points.map(([, v]) => v));
  const svg = make("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", id, role: "img" });
  svg.append(make("line", { x1: pad, y1: height - pad, x2: width - 8, y2: height - pad, stroke: "#999" }));
  const step = points.length > 1 ? (width - pad - 16) / (points.length - 1) : 0;
  const xy = points.map(([, v], i) => [pad + i * step, height - pad - ((height - 2 * pad) * v) / top]);
  if (points.length > 1) {
    svg.append(make("polyline", { points: xy.map(([x, y]) => `${x},${y}`).join(" "), fill: "none",
      stroke: "#1565c0", "stroke-width": 2 }));
  }
  points.forEach(([label, value], i) => {
    const [x, y] = xy[i];
    const dot = make("circle", { cx: x, cy: y, r: 4, fill: "#1565c0", class: "point", "data-value": value });
    dot.append(make("title", {}, `${label}: ${value} ${unit}`));
    svg.append(dot, make("text", { x, y: y - 8, "font-size": 11, "text-anchor": "middle" }, String(value)),
      make("text", { x, y: height - pad + 16, "font-size": 10, "text-anchor": "middle" }, label));
  });
  return svg;
}

async function lineage(addr) {
  const steps = await maybe("aither_getLineage", addr);
  if (!steps || !steps.length) return [];
  const gas = [];
  const rows = steps.map((step, i) => {
    const gov = step.governance;
    if (gov && !gas.length) gas.push([`v${i - 1}`, num(gov.gasBefore)]);
    if (gov) gas.push([`v${i}`, num(gov.gasAfter)]);
    const parents = step.parents.map((p) => short(p)).join(", ") || "-";
    const how = gov ? link(`#/proposal/${gov.proposalId}`, `proposal ${short(gov.proposalId)}`) : step.kind;
    return [`v${i}`, el("span", { class: "mono" }, short(step.codeId)), parents, step.region || "-", how];
  });
  const parts = [el("h2", {}, `Lineage (${steps.length} versions)`),
    table(["version", "code", "parents", "region", "change"], rows, [2])];
  if (gas.length > 1) parts.push(el("h2", {}, "Gas of each version"), lineChart(gas, "milligas", "gas-trend"));
  return parts;
}

function storageBrowser(addr) {
  const out = el("pre", { id: "storage-value" }, "Enter a key to read the agent's storage.");
  const input = el("input", { id: "storage-key", placeholder: "KV key, as KV_FETCH reads it (text)" });
  const form = el("form", { id: "storage" }, input, el("button", { type: "submit" }, "Read"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const found = await rpc("aither_getStorage", addr, input.value);
      out.textContent = found.value === null ? "(no value)" : JSON.stringify(found.value, null, 2);
    } catch (error) {
      out.textContent = error.message;
    }
  });
  return [el("h2", {}, "Storage"), form, out];
}

async function tokens() {
  const list = await rpc("aither_getTokens");
  return [
    el("h1", {}, "Tokens"),
    list.length
      ? table(["symbol", "name", "supply", "decimals", "creator"],
        list.map((t) => [t.symbol, t.name, units(t.supply, t.decimals, t.symbol), t.decimals,
          addressLink(t.creator)]), [3])
      : el("p", { class: "note" }, "No token yet: only AVM."),
  ];
}

async function council() {
  const doc = await rpc("aither_getCouncil");
  return [
    el("h1", {}, "Council"),
    table(["member", "name", "role", "accuracy", "weight", "since"],
      doc.members.map((m) => [addressLink(m.address), m.name || "-", m.roleName,
        `${m.accuracyPpm / 10000}%`, m.weight, m.since]), [5]),
    el("p", { class: "note" }, `total weight ${doc.totalWeight}`),
    el("h2", {}, "Tracks"),
    table(["kind", "least deposit", "voting (blocks)", "quorum", "threshold", "enactment delay"],
      Object.entries(doc.tracks).map(([kind, t]) => [kind, avm(t.min_deposit), t.voting_period,
        `${t.quorum_ppm / 10000}%`, `${t.threshold_ppm / 10000}%`, t.enactment_delay])),
  ];
}

async function channels() {
  const page = await rpc("aither_listChannels");
  return [
    el("h1", {}, "Swarm channels"),
    el("p", { class: "note" }, "Members and key epochs only: messages are end-to-end encrypted."),
    page.channels.length
      ? table(["channel", "name", "mode", "epoch", "members"],
        page.channels.map((c) => [link(`#/channel/${c.id}`, short(c.id), "mono"), c.name, c.mode,
          c.epoch, c.members.length]))
      : el("p", { class: "note" }, "No channel yet."),
  ];
}

async function channel(id) {
  const c = await maybe("aither_getChannel", id);
  if (!c) return notFound(`channel ${id}`);
  return [
    el("h1", {}, `Channel ${c.name}`),
    facts([["id", c.id], ["mode", c.mode], ["admin", addressLink(c.admin)], ["epoch", c.epoch],
      ["created", c.created]]),
    el("h2", {}, `Members (${c.members.length})`),
    table(["member"], c.members.map((m) => [addressLink(m)])),
  ];
}

async function proposals() {
  const list = await rpc("aither_listProposals");
  return [
    el("h1", {}, "Proposals"),
    list.length
      ? table(["#", "id", "kind", "status", "agent", "region"],
        list.map((p) => [p.number, link(`#/proposal/${p.id}`, short(p.id), "mono"), p.kind,
          p.status, p.agent ? addressLink(p.agent) : "-", p.region || "-"]), [4])
      : el("p", { class: "note" }, "No proposal yet."),
  ];
}

function diffLines(before, after) {
  const a = (before || "").split("\n");
  const b = (after || "").split("\n");
  if (a.length > 400 || b.length > 400) return [["", "(too long to compare here)"]];
  const lcs = a.map(() => new Array(b.length + 1).fill(0));
  lcs.push(new Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) { out.push([" ", a[i]]); i++; j++; }
    else if (j < b.length && (i >= a.length || lcs[i][j + 1] >= lcs[i + 1][j])) out.push(["+", b[j++]]);
    else out.push(["-", a[i++]]);
  }
  return out;
}

async function proposal(id) {
  const p = await maybe("aither_getProposal", id);
  if (!p) return notFound(`proposal ${id}`);
  const diff = el("pre", { id: "diff" },
    diffLines(p.oldIr, p.newIr).map(([mark, line]) =>
      el("div", { class: mark === "+" ? "add" : mark === "-" ? "del" : null }, `${mark} ${line}`)));
  return [
    el("h1", {}, `Proposal #${p.number}: ${p.kind}, ${p.status}`),
    facts([
      ["id", p.id],
      ["agent", p.agent ? addressLink(p.agent) : "-"],
      ["region", p.region || "-"],
      ["proposer", addressLink(p.proposer)],
      ["rationale", p.rationale || "-"],
    ]),
    p.newIr !== undefined ? el("h2", {}, "Change") : null,
    p.newIr !== undefined ? diff : null,
    el("h2", {}, "Timeline"),
    table(["submitted", "voting ends", "enacted", "closed"],
      [[p.submittedHeight, p.votingEndHeight, p.enactHeight, p.closedHeight].map((h) =>
        (h === null || h === undefined ? "-" : link(`#/block/${h}`, h)))]),
    el("h2", {}, "Tally"),
    facts([
      ["yes / no / abstain / veto", `${p.tally.yes} / ${p.tally.no} / ${p.tally.abstain} / ${p.tally.veto}`],
      ["voted of all weight", `${p.tally.voted} of ${p.tally.total} (quorum ${p.tally.quorum})`],
      ["threshold", `${p.tally.thresholdPpm / 10000}% yes, veto at ${p.tally.vetoPpm / 10000}%`],
    ]),
    p.shadow ? el("h2", {}, "Shadow replay") : null,
    p.shadow ? facts([
      ["blocks", `${p.shadow.firstBlock}..${p.shadow.lastBlock}`],
      ["transactions", p.shadow.transactions],
      ["outcome changes", p.shadow.outcomeChanges],
      ["milligas", `${p.shadow.gasBefore} -> ${p.shadow.gasAfter}`],
    ]) : null,
    el("h2", {}, "Sandbox"),
    table(["test", "result", "milligas before", "milligas after"],
      (p.sandbox || []).map((r) => [r.test, r.passed ? "pass" : `fail ${r.reason || ""}`,
        num(r.gasBefore), num(r.gasAfter)])),
    el("h2", {}, `Votes (${(p.votes || []).length})`),
    table(["member", "role", "choice", "explanation"],
      (p.votes || []).map((v) => [addressLink(v.member), v.roleName || v.role || "-", v.choice,
        v.explanation])),
  ];
}

const WINDOW = 20; // recent blocks the validators page reads: proposers and missed precommits

async function validators() {
  const [v, head] = await Promise.all([rpc("aither_getValidators"), rpc("aither_blockNumber")]);
  const top = num(head);
  const heights = [];
  for (let h = top; h > 0 && heights.length < WINDOW; h--) heights.push(h);
  const blocks = await batch(heights.map((h) => ["aither_getBlockByNumber", "0x" + h.toString(16), false]));
  const proposed = new Map();
  const missed = new Map();
  let certificates = 0;
  for (const b of blocks) {
    if (!b) continue;
    proposed.set(b.miner, (proposed.get(b.miner) || 0) + 1);
    if (b.lastCommit && num(b.number) > 1) {
      certificates++;
      const signed = new Set(b.lastCommit.signers);
      for (const x of v.validators) if (!signed.has(x.address)) missed.set(x.address, (missed.get(x.address) || 0) + 1);
    }
  }
  return [
    el("h1", {}, `Validators after block ${v.height}`),
    table(["address", "public key", "power", `proposed (last ${blocks.length})`, `missed (of ${certificates})`],
      v.validators.map((x) => [addressLink(x.address), el("span", { class: "mono" }, x.pubkey), x.power,
        proposed.get(x.address) || 0, missed.get(x.address) || 0]), [1]),
    el("p", { class: "note" }, `total power ${v.totalPower}`),
    el("h2", {}, `Jailed (${v.jailed.length})`),
    v.jailed.length
      ? table(["address", "height", "power slashed"], v.jailed.map((j) => [addressLink(j.address), j.height, j.slashed]))
      : el("p", { class: "note" }, "Nobody is jailed."),
  ];
}

function notFound(what) {
  return [el("h1", {}, "Not found"), el("p", { class: "error" }, `There is no ${what} on this chain.`)];
}

// ---- search and routing -----------------------------------------------------------------------

async function search(text) {
  const q = text.trim();
  if (/^\d+$/.test(q)) return `#/block/${q}`;
  if (/^0x[0-9a-fA-F]{40}$/.test(q)) return `#/address/${q}`;
  if (/\.avm$/i.test(q)) {
    const found = await rpc("aither_resolveName", q.toLowerCase());
    return found ? `#/address/${found}` : null;
  }
  if (/^0x[0-9a-fA-F]{4,64}$/.test(q)) {
    for (const [kind, page] of [["transaction", "tx"], ["block", "block"], ["proposal", "proposal"]]) {
      try {
        return `#/${page}/${await rpc("aither_resolveId", kind, q)}`;
      } catch (error) {
        if (error.code !== -32001) throw error; // ambiguous or malformed: say so
      }
    }
  }
  return null;
}

document.getElementById("search").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = document.getElementById("query").value;
  try {
    const target = await search(q);
    if (target) location.hash = target;
    else render([el("h1", {}, "Not found"), el("p", { class: "error" }, `Nothing on this chain matches ${q}.`)]);
  } catch (error) {
    render([el("h1", {}, "Search"), el("p", { class: "error" }, error.message)]);
  }
});

const ROUTES = [
  [/^$/, home],
  [/^block\/(.+)$/, block],
  [/^tx\/(.+)$/, tx],
  [/^address\/(.+)$/, address],
  [/^proposals$/, proposals],
  [/^proposal\/(.+)$/, proposal],
  [/^validators$/, validators],
  [/^council$/, council],
  [/^tokens$/, tokens],
  [/^channels$/, channels],
  [/^channel\/(.+)$/, channel],
];

let navigation = 0; // the latest route's number: a slower, older render never lands

function render(nodes, page) {
  view.replaceChildren(...nodes);
  if (page) view.dataset.page = page;
  else delete view.dataset.page;
  view.dataset.ready = String(Date.now());
}

async function route() {
  const mine = ++navigation;
  let nodes;
  let page = null;
  try {
    const path = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
    const found = ROUTES.find(([pattern]) => pattern.test(path));
    if (found) {
      const [pattern, view_] = found;
      nodes = await view_(...path.match(pattern).slice(1));
      page = view_ === home ? "home" : null;
    } else {
      nodes = notFound(`page ${path}`);
    }
  } catch (error) {
    nodes = [el("h1", {}, "Error"), el("p", { class: "error" }, error.message)];
  }
  if (mine === navigation) render(nodes, page);
}

// ---- the live head ----------------------------------------------------------------------------

function setHead(height) {
  if (headHeight === null || height > headHeight) {
    headHeight = height;
    headNumber.textContent = String(height);
  }
}

function follow(delay = 500) {
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "aither_subscribe", params: ["newHeads"] }));
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.method !== "aither_subscription") return;
    setHead(num(message.params.result.number));
    if (view.dataset.page === "home") route();
  });
  socket.addEventListener("close", () => setTimeout(() => follow(Math.min(delay * 2, 10000)), delay));
}

window.addEventListener("hashchange", route);
rpc("aither_blockNumber").then((n) => setHead(num(n)));
route();
follow();
