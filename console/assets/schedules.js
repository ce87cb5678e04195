// The schedules page (#/schedules): every schedule with its spec, next run
// and last execution, pause/resume and trigger; and the queue's depth.

import { $, el, execLink, timeCell, errorText } from "./util.js";
import { session } from "./session.js";

let timer = null;

export function show() {
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, 2000);
}

export function hide() {
  clearInterval(timer);
  timer = null;
}

async function refresh() {
  try {
    const queued = await session.weft.call("executions.list", { status: "queued", limit: 1000 });
    $("queue-depth").textContent = `· ${queued.items.length}${queued.next_cursor ? "+" : ""} execution(s) queued`;
  } catch { $("queue-depth").textContent = ""; }
  let res;
  try { res = await session.weft.call("schedule.list", {}); } catch (err) {
    $("schedule-error").textContent = err.code === "FORBIDDEN" ? "(token lacks schedules:read)" : errorText(err);
    return;
  }
  $("schedule-error").textContent = "";
  const act = (service, id) => async () => {
    try { await session.weft.call(service, { schedule_id: id }); } catch (err) { $("schedule-error").textContent = errorText(err); }
    refresh();
  };
  $("schedule-none").hidden = res.schedules.length > 0;
  $("schedule-rows").replaceChildren(...res.schedules.map((x) => el("tr", { "data-schedule": x.id },
    el("td", {}, x.id), el("td", {}, x.workflow),
    el("td", {}, x.spec.cron ? `cron ${x.spec.cron}${x.spec.tz ? " " + x.spec.tz : ""}` : `every ${x.spec.every}`),
    el("td", {}, x.paused ? "paused" : (x.next_run_at ? timeCell(x.next_run_at) : "")),
    el("td", {}, x.last_execution_id ? execLink(x.last_execution_id) : ""),
    el("td", { class: "row-actions" },
      el("button", { onclick: act(x.paused ? "schedule.resume" : "schedule.pause", x.id) }, x.paused ? "Resume" : "Pause"),
      el("button", { onclick: act("schedule.trigger", x.id) }, "Trigger")))));
}
