// The recommendation console: plain DOM and fetch, no dependencies, no build step.
// Every call goes to the public API on this origin with the key the user pasted, which is kept in
// this tab's sessionStorage only (never in the page, a URL or localStorage).

const KEY_STORE = "recsys.console.key";
const USERS_STORE = "recsys.console.users";
const ACTIONS = [
  ["like", "Like"],
  ["watch", "Watch"],
  ["purchase", "Purchase"],
];
// The API lives beside the page: /console -> /v1/..., /<stage>/console -> /<stage>/v1/...
const BASE = location.pathname.replace(/console\/?$/, "");
const state = { user: null, recs: [], admin: false, ingestTimer: null, busy: false };

// -- small helpers -----------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "style") Object.assign(node.style, value); // CSSOM: the CSP refuses style attributes
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const pct = (x) => `${(x * 100).toFixed(Math.abs(x) < 0.1 ? 1 : 0)}%`;
const num = (x, digits = 4) => (typeof x === "number" ? Number(x.toFixed(digits)).toString() : String(x ?? "–"));
const ms = (x) => (x < 1000 ? `${Math.round(x)} ms` : `${(x / 1000).toFixed(1)} s`);

function ago(iso) {
  if (!iso) return "";
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (seconds > 30 * 86400) return new Date(iso).toLocaleDateString();
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");

function notice(text, kind = "info") {
  const box = $("notice");
  box.hidden = !text;
  box.className = `notice ${kind}`;
  box.textContent = text || "";
}

class ApiError extends Error {
  constructor(status, envelope, retryAfter) {
    const error = (envelope && envelope.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || `HTTP_${status}`;
    this.details = error.details || {};
    this.requestId = error.request_id;
    this.retryAfter = retryAfter;
  }
  describe() {
    const id = this.requestId ? ` (request ${this.requestId})` : "";
    const wait = this.retryAfter ? `; retry after ${this.retryAfter} s` : "";
    return `${this.code}: ${this.message}${wait}${id}`;
  }
}

// -- the API -----------------------------------------------------------------------------------
const key = () => sessionStorage.getItem(KEY_STORE);

async function api(method, path, { body, headers = {} } = {}) {
  const sent = { Accept: "application/json", ...headers };
  const secret = key();
  if (secret) sent.Authorization = `Bearer ${secret}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  const reply = await fetch(BASE + path, {
    method,
    headers: sent,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  const remaining = reply.headers.get("X-RateLimit-Remaining");
  if (remaining !== null) {
    $("budget").textContent = `${remaining}/${reply.headers.get("X-RateLimit-Limit")} requests left this minute`;
  }
  const text = await reply.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!reply.ok) throw new ApiError(reply.status, parsed, reply.headers.get("Retry-After"));
  return parsed;
}

const enc = encodeURIComponent;
const recommendationsOf = (user) => api("GET", `v1/recommendations?user_id=${enc(user)}&limit=10`);

// -- the key -----------------------------------------------------------------------------------
function showKeyState() {
  const secret = key();
  $("key-state").textContent = secret
    ? `Key in use: ${secret.slice(0, 8)}… ${state.admin ? "(admin)" : ""}`
    : "No key yet: paste one (make api-key)";
  $("forget-key").disabled = !secret;
  const refresh = $("refresh-model");
  refresh.disabled = !state.admin;
  refresh.title = state.admin ? "Retrain and publish a new version now" : "Needs an admin key";
}

async function useKey(secret) {
  sessionStorage.setItem(KEY_STORE, secret);
  $("key-input").value = "";
  state.admin = false;
  showKeyState();
  notice("");
  await Promise.all([loadModel(), loadExperiments(), loadIngest()]);
  showKeyState();
  if (state.user) await loadUser(state.user);
}

function forgetKey() {
  sessionStorage.removeItem(KEY_STORE);
  state.admin = false;
  clearInterval(state.ingestTimer);
  showKeyState();
  notice("The key is forgotten.");
}

// -- a user ------------------------------------------------------------------------------------
function rememberUser(user) {
  const users = [user, ...JSON.parse(sessionStorage.getItem(USERS_STORE) || "[]").filter((u) => u !== user)];
  sessionStorage.setItem(USERS_STORE, JSON.stringify(users.slice(0, 20)));
  showRecentUsers();
}

function showRecentUsers() {
  const users = JSON.parse(sessionStorage.getItem(USERS_STORE) || "[]");
  fill($("recent-users"), users.map((u) => h("option", { value: u })));
}

async function loadUser(user) {
  if (!key()) return notice("Paste an API key first.", "error");
  state.user = user;
  $("user-input").value = user;
  rememberUser(user);
  notice("");
  const [profile, preferences, history, recs] = await Promise.allSettled([
    api("GET", `v1/users/${enc(user)}`),
    api("GET", `v1/users/${enc(user)}/preferences`),
    api("GET", `v1/users/${enc(user)}/history?limit=50`),
    recommendationsOf(user),
  ]);
  showProfile(profile);
  showPreferences(preferences);
  showHistory(history);
  if (recs.status === "fulfilled") showRecommendations(recs.value);
  else failed(recs.reason);
  loadExperiments();
}

function failed(error) {
  notice(error instanceof ApiError ? error.describe() : `The request failed: ${error}`, "error");
}

function fact(name, value) {
  return [h("dt", {}, name), h("dd", {}, value)];
}

function showProfile(result) {
  const box = $("profile");
  if (result.status === "rejected") {
    const missing = result.reason instanceof ApiError && result.reason.status === 404;
    fill(box, h("p", { class: "muted" }, missing ? "Not in the catalog: a new user (popular items answer)." : result.reason.message));
    return;
  }
  const user = result.value;
  fill(
    box,
    h(
      "dl",
      {},
      fact("interactions", user.total_interactions),
      fact("new user", user.is_new_user ? "yes" : "no"),
      fact("preferred categories", user.preferred_categories.join(", ") || "–"),
      fact("language / country", `${user.language || "–"} / ${user.country || "–"}`),
    ),
  );
}

function showPreferences(result) {
  const box = $("preferences");
  if (result.status === "rejected") {
    const missing = result.reason instanceof ApiError && result.reason.status === 404;
    fill(box, h("p", { class: "muted" }, missing ? "None set." : result.reason.message));
    return;
  }
  const prefs = result.value;
  fill(
    box,
    h(
      "dl",
      {},
      fact("favourite categories", prefs.favorite_categories.join(", ") || "–"),
      fact("excluded items", prefs.excluded_items.join(", ") || "–"),
      fact("language", prefs.language || "–"),
      fact("version", `${prefs.version}, ${when(prefs.updated_at)}`),
    ),
  );
}

function showHistory(result) {
  const table = $("history");
  if (result.status === "rejected") {
    fill(table, h("tbody", {}, h("tr", {}, h("td", { class: "muted" }, result.reason.message))));
    return;
  }
  const events = result.value.events;
  if (!events.length) {
    fill(table, h("tbody", {}, h("tr", {}, h("td", { class: "muted" }, "No interactions logged yet."))));
    return;
  }
  fill(
    table,
    h("thead", {}, h("tr", {}, h("th", {}, "when"), h("th", {}, "item"), h("th", {}, "category"), h("th", {}, "action"))),
    h(
      "tbody",
      {},
      events.map((e) =>
        h(
          "tr",
          { dataset: { itemId: e.item_id } },
          h("td", { title: when(e.event_time) }, ago(e.event_time)),
          h("td", {}, h("a", { href: "#", onclick: (ev) => (ev.preventDefault(), showSimilar(e.item_id)) }, e.title || e.item_id)),
          h("td", {}, e.category || "–"),
          h("td", {}, h("span", { class: `action ${e.action}` }, e.action)),
        ),
      ),
    ),
  );
}

async function reloadHistory() {
  if (!state.user) return;
  const [history] = await Promise.allSettled([api("GET", `v1/users/${enc(state.user)}/history?limit=50`)]);
  showHistory(history);
}

// -- recommendations ---------------------------------------------------------------------------
// Each factor's share of the score as a bar from a zero line: shares sum to 1, and a factor that
// lowered the score (popularity's penalty, a dislike) has a negative share drawn to the left.
function factorBars(factors) {
  const list = factors || [];
  const right = Math.max(0, ...list.map((f) => f.weight));
  const left = Math.max(0, ...list.map((f) => -f.weight));
  const span = Math.max(1e-9, left + right);
  const zero = (left / span) * 100;
  return h(
    "div",
    { class: "factors" },
    list.map((f) =>
      h(
        "div",
        { class: "factor", dataset: { factor: f.factor, weight: String(f.weight) }, title: f.description || f.factor },
        h("span", { class: "factor-name" }, f.factor.replaceAll("_", " ")),
        h(
          "span",
          { class: "bar-track" },
          left > 0 ? h("span", { class: "zero", style: { left: `${zero}%` } }) : null,
          h("span", {
            class: `bar ${f.weight < 0 ? "negative" : ""}`,
            style: {
              left: `${f.weight < 0 ? zero - (-f.weight / span) * 100 : zero}%`,
              width: `${((Math.abs(f.weight) / span) * 100).toFixed(2)}%`,
            },
          }),
        ),
        h("span", { class: "factor-weight" }, pct(f.weight)),
      ),
    ),
  );
}

function showRecommendations(answer, fresh = new Set()) {
  state.recs = answer.recommendations;
  $("recs-version").textContent = `model_version ${answer.model_version}`;
  $("recs-version").dataset.modelVersion = answer.model_version;
  const list = $("recs");
  if (!answer.recommendations.length) {
    fill(list, h("li", { class: "muted empty" }, "Nothing to recommend."));
    return;
  }
  fill(
    list,
    answer.recommendations.map((r) =>
      h(
        "li",
        { class: `rec ${fresh.has(r.item_id) ? "fresh" : ""}`, dataset: { itemId: r.item_id } },
        h(
          "div",
          { class: "rec-head" },
          h("span", { class: "rank" }, r.rank),
          r.metadata.thumbnail_url && r.metadata.thumbnail_url.startsWith("https://")
            ? h("img", { class: "thumb", src: r.metadata.thumbnail_url, alt: "", loading: "lazy" })
            : null,
          h(
            "div",
            { class: "rec-title" },
            h("strong", {}, r.metadata.title),
            h("span", { class: "muted" }, ` ${r.metadata.category || ""} · ${r.item_id} · score ${num(r.score)}`),
            h("div", { class: "reason" }, r.explanation.reason || r.explanation.type),
          ),
        ),
        factorBars(r.explanation.factors),
        h(
          "div",
          { class: "buttons" },
          ACTIONS.map(([action, label]) =>
            h("button", { type: "button", class: "small", dataset: { action }, onclick: () => act(r, action) }, label),
          ),
          h(
            "button",
            { type: "button", class: "small warn", dataset: { action: "not_interested" }, onclick: () => notInterested(r) },
            "Not interested",
          ),
          h("button", { type: "button", class: "small quiet", dataset: { action: "similar" }, onclick: () => showSimilar(r.item_id) }, "Similar"),
          h("button", { type: "button", class: "small quiet", dataset: { action: "explain" }, onclick: () => explain(r) }, "Why?"),
        ),
      ),
    ),
  );
}

const idsOf = (recs) => recs.map((r) => r.item_id).join(" ");

// After an action, ask for the list again until the item acted on has left it (consumed items and
// "not interested" ones are never recommended): the time from the action to that list is what the
// event-to-effect path costs. A list that changed for another reason (a new model version) is shown
// meanwhile, and the wait goes on.
async function watchForChange(what, itemId, sent, accepted) {
  const user = state.user;
  const effect = $("effect");
  effect.hidden = false;
  effect.className = "effect waiting";
  delete effect.dataset.effectMs;
  effect.textContent = `${what}: accepted in ${ms(accepted)}; waiting for the recommendations to change…`;
  const deadline = sent + 15000;
  let shown = idsOf(state.recs);
  while (performance.now() < deadline && user === state.user) {
    let answer;
    try {
      answer = await recommendationsOf(user);
    } catch (error) {
      failed(error);
      if (error.status === 429) await new Promise((r) => setTimeout(r, 1000 * (Number(error.retryAfter) || 1)));
      continue;
    }
    const took = performance.now() - sent;
    if (idsOf(answer.recommendations) !== shown) {
      const old = new Set(state.recs.map((r) => r.item_id));
      showRecommendations(answer, new Set(answer.recommendations.map((r) => r.item_id).filter((i) => !old.has(i))));
      shown = idsOf(answer.recommendations);
    }
    if (!answer.recommendations.some((r) => r.item_id === itemId)) {
      effect.className = "effect done";
      effect.dataset.effectMs = String(Math.round(took));
      effect.textContent = `${what}: the recommendations changed ${ms(took)} after it was sent (accepted in ${ms(accepted)}).`;
      setTimeout(reloadHistory, 1500); // the interaction log's writer batches for up to a second
      reloadHistory();
      return;
    }
    await new Promise((r) => setTimeout(r, took < 3000 ? 100 : 500));
  }
  effect.className = "effect";
  effect.textContent = `${what}: the item was still recommended 15 s later.`;
  reloadHistory();
}

async function act(rec, action) {
  const sent = performance.now();
  try {
    await api("POST", "v1/interactions", {
      body: { user_id: state.user, item_id: rec.item_id, action, context: { source: "console" } },
      headers: { "X-Event-ID": uuid() },
    });
  } catch (error) {
    return failed(error);
  }
  await watchForChange(`${action} of ${rec.metadata.title}`, rec.item_id, sent, performance.now() - sent);
}

async function notInterested(rec) {
  const sent = performance.now();
  try {
    await api("POST", "v1/feedback", {
      body: { user_id: state.user, item_id: rec.item_id, feedback_type: "not_interested", reason: "console" },
      headers: { "Idempotency-Key": uuid() },
    });
  } catch (error) {
    return failed(error);
  }
  await watchForChange(`"Not interested" in ${rec.metadata.title}`, rec.item_id, sent, performance.now() - sent);
}

// -- similar items and explanations ------------------------------------------------------------
async function showSimilar(itemId) {
  $("similar-input").value = itemId;
  $("explain").hidden = true;
  $("detail-title").textContent = "Similar items";
  let answer;
  try {
    answer = await api("GET", `v1/items/${enc(itemId)}/similar?limit=10`);
  } catch (error) {
    fill($("similar"), h("li", { class: "muted" }, error instanceof ApiError ? error.describe() : String(error)));
    return;
  }
  $("detail-title").textContent = `Similar to ${answer.source_item.title}`;
  const top = Math.max(1e-9, ...answer.similar_items.map((s) => s.similarity_score)); // bars relative to the closest
  fill(
    $("similar"),
    answer.similar_items.length
      ? answer.similar_items.map((s) =>
          h(
            "li",
            { class: "similar", dataset: { itemId: s.item_id } },
            h(
              "div",
              {},
              h("a", { href: "#", onclick: (ev) => (ev.preventDefault(), showSimilar(s.item_id)) }, s.metadata.title),
              h("span", { class: "muted" }, ` ${s.metadata.category || ""} · ${s.item_id}`),
            ),
            h("div", { class: "reason muted" }, s.similarity_reason),
            h(
              "div",
              { class: "factor" },
              h("span", { class: "factor-name" }, "similarity"),
              h("span", { class: "bar-track" }, h("span", { class: "bar", style: { width: `${(s.similarity_score / top) * 100}%` } })),
              h("span", { class: "factor-weight" }, num(s.similarity_score, 3)),
            ),
          ),
        )
      : h("li", { class: "muted" }, "No similar items."),
  );
}

async function explain(rec) {
  let answer;
  try {
    answer = await api("GET", `v1/recommendations/${enc(rec.item_id)}/explain?user_id=${enc(state.user)}`);
  } catch (error) {
    return failed(error);
  }
  const e = answer.explanation;
  $("detail-title").textContent = `Why ${rec.metadata.title}`;
  fill($("similar"));
  const box = $("explain");
  box.hidden = false;
  fill(
    box,
    h(
      "dl",
      { class: "facts" },
      fact("primary reason", e.primary_reason.replaceAll("_", " ")),
      e.description ? fact("note", e.description) : null,
      fact("score", e.score === null || e.score === undefined ? "–" : num(e.score)),
      fact("predicted rating", e.predicted_rating === null ? "– (no ratings in the log)" : num(e.predicted_rating, 2)),
      fact("because of", e.similar_items_watched.join(", ") || "–"),
    ),
    factorBars(e.contributing_factors),
    h(
      "ul",
      { class: "descriptions" },
      e.contributing_factors.map((f) => h("li", {}, h("strong", {}, f.factor.replaceAll("_", " ")), ` ${pct(f.weight)}: ${f.description}`)),
    ),
  );
}

// -- the model ---------------------------------------------------------------------------------
function table(entries) {
  const rows = Object.entries(entries || {}).filter(([, v]) => v !== null && typeof v !== "object");
  if (!rows.length) return h("span", { class: "muted" }, "–");
  return h("table", { class: "table compact" }, h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, num(v))))));
}

function folded(summary, ...content) {
  return h("details", {}, h("summary", {}, summary), ...content);
}

function evalFigures(evaluation) {
  if (!evaluation) return h("span", { class: "muted" }, "Not published for this version (make eval publishes its own stack's).");
  const rows = Object.entries(evaluation).filter(([, v]) => v && typeof v === "object");
  return h(
    "table",
    { class: "table compact" },
    h("thead", {}, h("tr", {}, h("th", {}, "model"), h("th", {}, "HR@10"), h("th", {}, "NDCG@10"), h("th", {}, "coverage@10"))),
    h(
      "tbody",
      {},
      rows.map(([name, f]) =>
        h(
          "tr",
          {},
          h("th", {}, name),
          h("td", {}, `${num(f["hr@10"])} ± ${num(f["se_hr@10"])}`),
          h("td", {}, `${num(f["ndcg@10"])} ± ${num(f["se_ndcg@10"])}`),
          h("td", {}, num(f["coverage@10"])),
        ),
      ),
    ),
  );
}

async function loadModel() {
  let model;
  try {
    model = await api("GET", "v1/model?versions=20");
  } catch (error) {
    fill($("model"), fact("model", error instanceof ApiError ? error.describe() : String(error)));
    return null;
  }
  const index = model.index || {};
  const counts = model.counts || {};
  const timings = model.timings || {};
  fill(
    $("model"),
    h("dt", {}, "model_version"),
    h("dd", { id: "model-version", dataset: { modelVersion: model.model_version || "" } }, model.model_version || "none yet (popularity-v1 answers)"),
    fact("algorithm", model.algorithm || "–"),
    fact("trained", model.trained_at ? `${when(model.trained_at)} (${ago(model.trained_at)})` : "–"),
    fact("trained on", model.counts ? `${num(counts.events)} events, ${num(counts.users)} users, ${num(counts.items)} items` : "–"),
    fact("index", model.index ? `${index.kind}, ${index.items} items × ${index.dimensions} dims${index.nprobe ? `, nprobe ${index.nprobe}/${index.nlist}` : ""}` : "–"),
    h("dt", {}, "index recall@50"),
    h("dd", { id: "model-recall" }, model.index ? num(index.recall_at_50, 4) : "–"),
    fact("offline evaluation", evalFigures(model.eval)),
    fact("parameters", folded(`${Object.keys(model.parameters).length} training parameters`, table(model.parameters))),
    fact("ranking blend", folded(`${Object.keys(model.blend).length} weights`, table(model.blend))),
    fact("refresh", folded(timings.total_seconds_before_publish ? `${num(timings.total_seconds_before_publish, 1)} s before publishing` : "timings", table(timings), table(counts))),
    model.spark ? fact("Spark run", folded("the job", table(model.spark))) : null,
  );
  fill(
    $("versions"),
    model.versions.map((v) =>
      h("li", { class: v.current ? "current" : "", dataset: { modelVersion: v.model_version } }, h("code", {}, v.model_version), v.current ? " (current)" : "", h("span", { class: "muted" }, ` ${ago(v.trained_at)}`)),
    ),
  );
  return model;
}

async function refreshModel() {
  const button = $("refresh-model");
  const status = $("refresh-state");
  const before = $("model-version")?.dataset.modelVersion || "";
  button.disabled = true;
  const started = performance.now();
  try {
    const accepted = await api("POST", "v1/model/refresh", { body: { training: "auto" } });
    status.textContent = `Refresh started (invocation ${accepted.invocation_id || "queued"}); waiting for a new version…`;
  } catch (error) {
    status.textContent = error instanceof ApiError ? error.describe() : String(error);
    button.disabled = !state.admin;
    return;
  }
  while (performance.now() - started < 600000) {
    await new Promise((r) => setTimeout(r, 2000));
    const model = await loadModel();
    const elapsed = ms(performance.now() - started);
    if (model && model.model_version && model.model_version !== before) {
      status.textContent = `Published ${model.model_version} ${elapsed} after the request; serving loads it within seconds.`;
      status.dataset.published = model.model_version;
      break;
    }
    status.textContent = `Training… ${elapsed}`;
  }
  button.disabled = !state.admin;
}

// -- experiments -------------------------------------------------------------------------------
async function loadExperiments() {
  const box = $("experiments");
  let answer;
  try {
    answer = await api("GET", "v1/experiments");
  } catch (error) {
    fill(box, h("p", { class: "muted" }, error instanceof ApiError ? error.describe() : String(error)));
    return;
  }
  if (!answer.experiments.length) {
    fill(box, h("p", { class: "muted" }, "No experiments (PUT /v1/experiments/{id} defines one)."));
    return;
  }
  fill(
    box,
    answer.experiments.map((x) =>
      h(
        "div",
        { class: "experiment", dataset: { experimentId: x.experiment_id } },
        h(
          "div",
          { class: "experiment-head" },
          h("strong", {}, x.experiment_id),
          h("span", { class: `badge ${x.is_active ? "on" : ""}` }, x.is_active ? "active" : "stopped"),
          x.routes_recommendations ? h("span", { class: "badge on" }, "routes recommendations") : null,
          h("span", { class: "muted" }, ` since ${when(x.created_at)}`),
        ),
        h(
          "table",
          { class: "table compact" },
          h("thead", {}, h("tr", {}, h("th", {}, "variant"), h("th", {}, "split"), h("th", {}, "assignments"), h("th", {}, "blend"))),
          h(
            "tbody",
            {},
            x.variants.map((v) =>
              h(
                "tr",
                {},
                h("th", {}, v.name),
                h("td", { class: "split" }, h("span", { class: "bar-track inline" }, h("span", { class: "bar", style: { width: `${(v.share * 100).toFixed(1)}%` } })), ` ${pct(v.share)}`),
                h("td", {}, v.assignments),
                h("td", {}, v.blend ? Object.entries(v.blend).map(([k, val]) => `${k}=${val}`).join(", ") : "–"),
              ),
            ),
          ),
        ),
        x.is_active && state.user
          ? h(
              "div",
              { class: "assign" },
              h("button", { type: "button", class: "small quiet", onclick: (ev) => assign(x.experiment_id, ev.target) }, `Assign ${state.user}`),
            )
          : null,
      ),
    ),
  );
}

async function assign(experimentId, button) {
  try {
    const answer = await api("POST", `v1/experiments/${enc(experimentId)}/assignments`, { body: { user_id: state.user } });
    button.replaceWith(h("span", { class: "assigned" }, `${answer.user_id} sees ${answer.variant} (since ${when(answer.assigned_at)})`));
  } catch (error) {
    failed(error);
  }
}

// -- ingest ------------------------------------------------------------------------------------
async function loadIngest() {
  const box = $("ingest");
  let stats;
  try {
    stats = await api("GET", "v1/ingest?minutes=60");
  } catch (error) {
    state.admin = false;
    const scope = error instanceof ApiError && error.status === 403;
    fill(box, h("p", { class: "muted" }, scope ? "Needs an admin key (the service's whole traffic and its failures)." : error instanceof ApiError ? error.describe() : String(error)));
    return;
  }
  state.admin = true;
  const peak = Math.max(1, ...stats.per_minute.map((m) => m.events));
  // a log scale: a bulk import's minute would otherwise flatten every other one
  const height = (n) => `${((Math.log1p(n) / Math.log1p(peak)) * 100).toFixed(1)}%`;
  const queue = stats.failure_queue;
  fill(
    box,
    h(
      "dl",
      { class: "facts" },
      fact("events applied", stats.events_applied.toLocaleString()),
      fact("last minute", `${stats.events_last_minute.toLocaleString()} events`),
      fact("failure queue", queue ? `${queue.waiting} waiting, ${queue.in_flight} in flight` : "not configured"),
    ),
    h(
      "div",
      { class: "spark", title: `events per minute, the last ${stats.per_minute.length} minutes (peak ${peak})` },
      stats.per_minute.map((m) =>
        h("span", { class: "spark-bar", title: `${new Date(m.minute).toLocaleTimeString()}: ${m.events}`, style: { height: height(m.events) } }),
      ),
    ),
    h(
      "div",
      { class: "axis muted" },
      h("span", {}, new Date(stats.per_minute[0].minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
      h("span", {}, `events applied per minute, log scale (peak ${peak.toLocaleString()}); the last is still filling`),
      h("span", {}, "now"),
    ),
  );
  clearInterval(state.ingestTimer);
  state.ingestTimer = setInterval(() => document.visibilityState === "visible" && key() && loadIngest(), 15000);
}

// -- wiring ------------------------------------------------------------------------------------
function start() {
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const secret = $("key-input").value.trim();
    if (secret) useKey(secret);
  });
  $("forget-key").addEventListener("click", forgetKey);
  $("user-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const user = $("user-input").value.trim();
    if (user) loadUser(user);
  });
  $("similar-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const item = $("similar-input").value.trim();
    if (item) showSimilar(item);
  });
  $("refresh-model").addEventListener("click", refreshModel);
  $("reload-ingest").addEventListener("click", loadIngest);
  showRecentUsers();
  showKeyState();
  if (key()) useKey(key());
  document.body.dataset.ready = "true";
}

start();
