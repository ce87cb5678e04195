import { WeftClient } from "./weft.js";
import { $, routeParams } from "./util.js";
import { session, ownSocket } from "./session.js";
import * as executions from "./executions.js";
import * as detail from "./detail.js";
import * as workflows from "./workflows.js";
import * as schedules from "./schedules.js";
import * as connections from "./connections.js";

// The console: a login form, then the views, one per route of the URL's
// hash (so links, bookmarks, back and forward work):
//
//	#/executions              the list (the default)
//	#/executions/<id>         one execution
//	#/workflows[/<name>]      workflows, their statistics, the start form
//	#/schedules               schedules and the queue
//	#/connections             rooms and connections
//
// Nothing but the login form is shown (or loaded) before the server has
// accepted the token.

const views = {
  executions: { el: "view-executions", nav: "executions", module: executions },
  execution: { el: "view-execution", nav: "executions", module: detail },
  workflows: { el: "view-workflows", nav: "workflows", module: workflows },
  schedules: { el: "view-schedules", nav: "schedules", module: schedules },
  connections: { el: "view-connections", nav: "connections", module: connections },
};
let shown = null;

async function login(token) {
  $("login-error").textContent = "";
  $("login-button").disabled = true;
  try {
    session.weft = await WeftClient.connect(ownSocket(), {
      token, auth: "inband", // browsers cannot set headers on a WebSocket
      reconnect: { maxAttempts: 0 },
      onStateChange: (state) => { if (session.weft) $("who").textContent = who(state); },
    });
  } catch (err) {
    session.weft = null;
    $("login-error").textContent = err.code === "UNAUTHENTICATED" ? "wrong token" : err.message;
    sessionStorage.removeItem("weft.token");
    return;
  } finally {
    $("login-button").disabled = false;
  }
  session.token = token;
  sessionStorage.setItem("weft.token", token);
  $("token").value = "";
  $("who").textContent = who("connected");
  session.weft.onMessage(connections.onPush);
  try {
    session.workflows = await session.weft.workflows();
  } catch {
    session.workflows = []; // the token lacks workflows:read: the rest still works
  }
  executions.workflowsLoaded(session.workflows.map((w) => w.name));
  workflows.loaded();
  $("login").hidden = true;
  $("app").hidden = false;
  $("nav").hidden = false;
  $("logout").hidden = false;
  route();
}

function who(state) {
  const info = session.weft.info || {};
  return `${info.identity} @ ${info.workspace}` + (state === "connected" ? "" : ` (${state})`);
}

function logout() {
  sessionStorage.removeItem("weft.token");
  if (session.weft) session.weft.close();
  location.hash = "";
  location.reload();
}

// route shows the view the hash names.
function route() {
  if (!session.weft) return;
  const [path, search = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").map(decodeURIComponent);
  let name = parts[0] || "executions", arg = parts[1] || "";
  if (name === "executions" && arg) name = "execution";
  const view = views[name] || views.executions;
  if (shown && shown !== view && shown.module.hide) shown.module.hide();
  for (const v of Object.values(views)) $(v.el).hidden = v !== view;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.nav === view.nav);
  shown = view;
  document.title = `weft · ${name === "execution" ? arg : name}`;
  view.module.show(arg, routeParams(search));
}

function onKey(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || !session.weft) return;
  if (ev.key === "Escape" && document.activeElement && document.activeElement.blur) document.activeElement.blur();
  if (shown === views.executions) executions.onKey(ev);
}

// ---- wiring ----

for (const m of [executions, detail, workflows, connections]) m.init();
$("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("token").value); });
$("logout").addEventListener("click", logout);
window.addEventListener("hashchange", route);
document.addEventListener("keydown", onKey);
const saved = sessionStorage.getItem("weft.token");
if (saved) login(saved);
