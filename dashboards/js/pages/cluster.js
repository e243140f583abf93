// Cluster: the collectors sharing the fleet (GET /api/cluster), each one's share of the targets as a bar,
// which member holds each lease, and the totals; read again every few seconds while the page is open.

import { get } from "../api.js";
import { h, replace } from "../dom.js";
import { dateTime, duration, percent, plain } from "../format.js";
import { t } from "../i18n.js";

const REFRESH_MS = 5000;

function summaryCard(cluster) {
  const live = cluster.members.filter((m) => m.live).length;
  const rows = [
    [t("cluster.members"), `${live} / ${cluster.members.length}`],
    [t("cluster.targets"), plain(cluster.targets, 0)],
    [t("cluster.unowned"), h("span", { class: cluster.unowned ? "error" : null }, plain(cluster.unowned, 0))],
    [t("cluster.replication"), String(cluster.replication_factor)],
  ];
  return h(
    "section",
    { class: "card", id: "cluster-summary" },
    h("h3", {}, t("cluster.summary")),
    h(
      "dl",
      {},
      rows.flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]),
    ),
    cluster.scope === "granted" ? h("p", { class: "muted small" }, t("cluster.granted")) : null,
  );
}

// An older member's lease value does not name it: the lease is then held, by a member unknown.
function holderText(lease) {
  if (lease.holder !== null) return h("strong", {}, lease.holder);
  if (lease.held) return h("span", {}, t("cluster.unnamedHolder"));
  return h("span", { class: "error" }, t("cluster.noHolder"));
}

function leasesCard(leases) {
  const detail = (lease) =>
    [
      lease.runs.map((duty) => t(`cluster.duty.${duty}`)).join(", "),
      lease.expires_in_s === null ? null : t("cluster.expiresIn", { time: duration(lease.expires_in_s) }),
      lease.fence === null ? null : t("cluster.fence", { fence: String(lease.fence) }),
    ]
      .filter(Boolean)
      .join(" · ");
  return h(
    "section",
    { class: "card", id: "cluster-leases" },
    h("h3", {}, t("cluster.leases")),
    h(
      "dl",
      {},
      leases.flatMap((lease) => [
        h("dt", {}, lease.name),
        h(
          "dd",
          { class: "lease-holder", "data-lease": lease.name },
          holderText(lease),
          h("div", { class: "muted small" }, detail(lease)),
        ),
      ]),
    ),
  );
}

// The share as a bar of the targets counted (with two replicas, shares add up to twice the targets).
function shareBar(member, total) {
  const fraction = total > 0 ? member.share / total : 0;
  const fill = h("span", { class: "share-fill" });
  // Through the CSSOM: the page's style policy refuses style attributes.
  fill.style.width = `${Math.min(100, fraction * 100)}%`;
  return h(
    "div",
    { class: "share" },
    h("span", { class: "share-bar", "aria-hidden": "true" }, fill),
    h("span", { class: "share-text" }, `${plain(member.share, 0)} (${percent(fraction * 100)})`),
  );
}

function membersTable(cluster) {
  const columns = [
    "cluster.member",
    "cluster.host",
    "cluster.pid",
    "cluster.role",
    "cluster.started",
    "cluster.heartbeat",
    "cluster.ttl",
    "cluster.share",
    "cluster.scraping",
  ];
  return h(
    "table",
    { class: "data-table", id: "cluster-members" },
    h("thead", {}, h("tr", {}, columns.map((key) => h("th", { scope: "col" }, t(key))))),
    h(
      "tbody",
      {},
      cluster.members.map((member) =>
        h(
          "tr",
          { "data-member": member.member, class: member.live ? null : "expired" },
          h("td", {}, member.member, member.live ? null : h("div", { class: "error small" }, t("cluster.expired"))),
          h("td", {}, member.host ?? "–"),
          h("td", { class: "num" }, member.pid ?? "–"),
          h("td", { class: `role role-${member.role}` }, t(`cluster.role.${member.role}`)),
          h("td", {}, dateTime(member.started_at)),
          h("td", { class: "num" }, member.heartbeat_age_s === null ? "–" : `${plain(member.heartbeat_age_s, 1)} s`),
          h("td", { class: "num" }, member.ttl_s === null ? "–" : `${plain(member.ttl_s, 1)} s`),
          h("td", { class: "cell-share" }, shareBar(member, cluster.targets)),
          h("td", { class: "num" }, member.scraping ?? "–"),
        ),
      ),
    ),
  );
}

/** Render the cluster page into `root`; returns the cleanup. */
export async function render(root) {
  const cards = h("div", { class: "cards" });
  const table = h("div", { class: "table-wrap" });
  const status = h("p", { class: "muted", "aria-live": "polite" });
  let timer = null;
  let stopped = false;
  replace(
    root,
    h("h1", {}, t("nav.cluster")),
    h("p", { class: "muted" }, t("cluster.intro")),
    cards,
    h("h2", {}, t("cluster.members")),
    status,
    table,
  );

  async function load() {
    clearTimeout(timer);
    try {
      const cluster = await get("/api/cluster");
      replace(cards, summaryCard(cluster), leasesCard(cluster.leases));
      status.textContent = cluster.members.length ? "" : t("cluster.none");
      replace(table, cluster.members.length ? membersTable(cluster) : null);
    } catch (err) {
      status.textContent = t("common.loadFailed", { message: err.message });
    }
    // A read still under way when the page was left must not schedule another.
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  }

  await load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
