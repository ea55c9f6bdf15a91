// The staff console: what staff see at /console/. Every page needs a staff sign-in; the APIs check
// the same group, this only spares staff-less visitors a page of refusals.
import { isStaff } from "../lib/auth";
import { startApp } from "../lib/app";
import { t, useLocale } from "../lib/i18n";
import { match, usePath } from "../lib/router";
import { AppShell, SignInRequired, useUser } from "../lib/ui";
import { consoleMessages } from "./messages";

function Overview() {
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">{t("console.home.title")}</h1>
      <p>{t("console.home.hello")}</p>
    </section>
  );
}

const routes: Array<[string, (params: Record<string, string>) => preact.JSX.Element]> = [["/console/", () => <Overview />]];

function Console() {
  useLocale();
  const path = usePath();
  const user = useUser();
  let page = <p>{t("common.notFound")}</p>;
  if (!isStaff(user)) page = <SignInRequired staff />;
  else
    for (const [pattern, view] of routes) {
      const params = match(pattern, path === "/console" ? "/console/" : path);
      if (params) {
        page = view(params);
        break;
      }
    }
  return (
    <AppShell
      basePath="/console/"
      brand={t("console.brand")}
      nav={[{ href: "/console/", label: t("console.nav.home") }]}
      path={path}
    >
      {page}
    </AppShell>
  );
}

void startApp("/console/", consoleMessages, Console);
