// Start an app: read /config.json, register its texts, finish or restore the sign-in, then render.
import { type ComponentType, render } from "preact";
import { initAuth } from "./auth";
import { loadConfig } from "./config";
import { type Dictionary, type Locale, registerMessages } from "./i18n";
import { interceptLinks, navigate } from "./router";
import { commonMessages } from "./ui";
import "./styles.css";

export async function startApp(basePath: string, messages: Record<Locale, Dictionary>, App: ComponentType): Promise<void> {
  const root = document.getElementById("app");
  if (!root) throw new Error("no #app element");
  registerMessages(commonMessages);
  registerMessages(messages);
  try {
    await loadConfig();
    const next = await initAuth(basePath);
    if (next) navigate(next, { replace: true });
  } catch (error) {
    root.innerHTML = "";
    const alert = document.createElement("p");
    alert.setAttribute("role", "alert");
    alert.textContent = `The page could not start: ${error instanceof Error ? error.message : String(error)}`;
    root.append(alert);
    return;
  }
  interceptLinks(root);
  render(<App />, root);
}
