// Operations: what `shop status` prints, per service, from each service's staff route GET /ops/status
// (its subscriptions' queues and DLQs, its outbox backlog). A service that has no such route yet (404)
// says "not available"; the others still show.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../../lib/api";
import type { ServiceName } from "../../lib/config";
import { t } from "../../lib/i18n";
import { Loading } from "../../lib/ui";
import { Refusal } from "../shared";

const SERVICES: ServiceName[] = ["catalog", "vod", "orders", "fulfillment", "notify"];

interface SubscriptionQueues {
  subscription: string;
  subscriber: string;
  queue: string;
  queue_depth: number;
  in_flight: number;
  oldest_age_seconds: number | null;
  dlq: string;
  dlq_depth: number;
  dlq_oldest_age_seconds: number | null;
}

interface OpsStatus {
  service: string;
  stage: string;
  age_source: "cloudwatch" | "dlq_peek";
  subscriptions: SubscriptionQueues[];
  outbox: { pending: number; oldest_age_seconds: number | null } | null;
}

type Answer = { kind: "loading" } | { kind: "ok"; status: OpsStatus } | { kind: "missing" } | { kind: "error"; error: unknown };

function age(seconds: number | null): string {
  if (seconds === null) return "—";
  if (seconds < 60) return t("console.ops.seconds", { n: Math.round(seconds) });
  if (seconds < 3600) return t("console.ops.minutes", { n: Math.round(seconds / 60) });
  if (seconds < 86400) return t("console.ops.hours", { n: (seconds / 3600).toFixed(1) });
  return t("console.ops.days", { n: (seconds / 86400).toFixed(1) });
}

export function OperationsPage() {
  const [answers, setAnswers] = useState<Record<string, Answer>>({});
  const [round, setRound] = useState(0);

  useEffect(() => {
    let current = true;
    setAnswers({});
    for (const service of SERVICES) {
      const settle = (answer: Answer) => current && setAnswers((all) => ({ ...all, [service]: answer }));
      api<OpsStatus>(service, "/ops/status")
        .then((status) => settle({ kind: "ok", status }))
        .catch((error: unknown) => settle(error instanceof ApiError && error.status === 404 ? { kind: "missing" } : { kind: "error", error }));
    }
    return () => void (current = false);
  }, [round]);

  const dlqTotal = SERVICES.reduce((sum, service) => {
    const answer = answers[service];
    return answer?.kind === "ok" ? sum + answer.status.subscriptions.reduce((s, q) => s + q.dlq_depth, 0) : sum;
  }, 0);
  const allIn = SERVICES.every((service) => answers[service] && answers[service].kind !== "loading");

  return (
    <section aria-labelledby="ops-title">
      <h1 id="ops-title">{t("console.ops.title")}</h1>
      <p class="hint">{t("console.ops.hint")}</p>
      <button type="button" class="secondary" onClick={() => setRound(round + 1)}>
        {t("console.action.refresh")}
      </button>
      <p role="status" aria-live="polite" class="live-status" data-testid="ops-summary">
        {allIn ? (dlqTotal > 0 ? t("console.ops.dlqAttention", { n: dlqTotal }) : t("console.ops.allRead")) : ""}
      </p>
      {SERVICES.map((service) => (
        <ServiceStatus key={service} service={service} answer={answers[service] ?? { kind: "loading" }} />
      ))}
    </section>
  );
}

function ServiceStatus(props: { service: ServiceName; answer: Answer }) {
  const { service, answer } = props;
  const titleId = `ops-${service}`;
  return (
    <section class="panel" aria-labelledby={titleId} data-testid={`ops-${service}`}>
      <h2 id={titleId}>{service}</h2>
      {answer.kind === "loading" && <Loading />}
      {answer.kind === "missing" && <p data-testid="ops-not-available">{t("console.ops.notAvailable")}</p>}
      {answer.kind === "error" && <Refusal error={answer.error} />}
      {answer.kind === "ok" && (
        <>
          <p class="hint">
            {t("console.ops.stage", { stage: answer.status.stage })} ·{" "}
            {answer.status.age_source === "cloudwatch" ? t("console.ops.agesCloudwatch") : t("console.ops.agesPeek")}
          </p>
          {answer.status.subscriptions.length === 0 ? (
            <p>{t("console.ops.noSubscriptions")}</p>
          ) : (
            <table>
              <caption class="visually-hidden">{t("console.ops.caption", { service })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("console.ops.subscriber")}</th>
                  <th scope="col" class="number">
                    {t("console.ops.waiting")}
                  </th>
                  <th scope="col" class="number">
                    {t("console.ops.inFlight")}
                  </th>
                  <th scope="col" class="number">
                    {t("console.ops.oldest")}
                  </th>
                  <th scope="col" class="number">
                    {t("console.ops.dlqDepth")}
                  </th>
                  <th scope="col" class="number">
                    {t("console.ops.dlqOldest")}
                  </th>
                </tr>
              </thead>
              <tbody>
                {answer.status.subscriptions.map((s) => (
                  <tr key={s.subscriber} class={s.dlq_depth > 0 ? "attention" : undefined}>
                    <th scope="row">
                      <code>{s.subscriber}</code>
                    </th>
                    <td class="number">{s.queue_depth}</td>
                    <td class="number">{s.in_flight}</td>
                    <td class="number">{age(s.oldest_age_seconds)}</td>
                    <td class="number" data-testid={`dlq-${s.subscriber}`}>
                      {s.dlq_depth}
                    </td>
                    <td class="number">{age(s.dlq_oldest_age_seconds)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p>
            {answer.status.outbox === null
              ? t("console.ops.noOutbox")
              : t("console.ops.outbox", { pending: answer.status.outbox.pending, oldest: age(answer.status.outbox.oldest_age_seconds) })}
          </p>
        </>
      )}
    </section>
  );
}
