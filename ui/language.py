"""The page's language: gradio's own locale in the browser, the same choice on the server.

gradio 6.17.3 picks the locale from ``navigator.language`` once, when the page loads; it
has no URL parameter for it, and its only switch is hidden in the footer's Settings. The
switch on our page sets gradio's locale store directly (the one store its i18n module
exports whose value is the locale string), so every ``gr.I18n`` label re-renders in
place without a reload. The choice is kept in a cookie, so that (1) a reload keeps it and
(2) event handlers that format text on the server (status lines, errors) read it from the
request; without the cookie they follow the browser's ``Accept-Language``, which is the
same language gradio picked from ``navigator.language``.
"""
from __future__ import annotations

COOKIE = "studio_lang"
# Codes the switch offers. "zh-CN" rather than "zh": gradio's own strings (footer,
# upload hints) are keyed zh-CN, and our "zh" table is found from it by fallback.
CODES = ("zh-CN", "en")

# Finds the i18n module the page already loaded (same URL -> same module instance, so
# the same store) and the locale store in it. Kept in one place for the two snippets.
_FIND_LOCALE_STORE = """
  const url = performance.getEntriesByType("resource").map((e) => e.name)
      .find((n) => /\\/assets\\/i18n-[^/]*\\.js(\\?|$)/.test(n));
  let store = null;
  if (url) {
    const mod = await import(url);
    for (const value of Object.values(mod)) {
      if (value && typeof value.subscribe === "function" && typeof value.set === "function") {
        let current;
        const stop = value.subscribe((v) => { current = v; });
        if (stop) stop();
        if (typeof current === "string") { store = value; break; }
      }
    }
  }
  if (!store) console.warn("XTuner LLaVA Studio: gradio's locale store was not found");
"""

_CODE_OF = """
  const codeOf = (locale) => (String(locale || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en");
"""

# Radio.input -> this: switch now, remember it for reloads and for the server (no outputs).
SET_JS = """
async (lang) => {
""" + _FIND_LOCALE_STORE + """
  if (store) store.set(lang);
  document.cookie = "@COOKIE@=" + encodeURIComponent(lang) + "; path=/; max-age=31536000; SameSite=Lax";
  return [];
}
""".replace("@COOKIE@", COOKIE)

# Page load -> this: apply a remembered choice, and show the current language on the switch.
LOAD_JS = """
async () => {
""" + _FIND_LOCALE_STORE + _CODE_OF + """
  const saved = document.cookie.split("; ").find((c) => c.startsWith("@COOKIE@="));
  if (saved) {
    const lang = codeOf(decodeURIComponent(saved.split("=")[1]));
    if (store) store.set(lang);
    return lang;
  }
  return codeOf(navigator.language || (navigator.languages || [])[0]);
}
""".replace("@COOKIE@", COOKIE)


def table_of(locale: str | None) -> str:
    """'zh' for any Chinese locale, else 'en' (our two tables)."""
    return "zh" if (locale or "").strip().lower().startswith("zh") else "en"


def best_of_accept_language(header: str | None) -> str:
    """The first supported language in an Accept-Language header, by its q-weight."""
    weighted = []
    for position, part in enumerate((header or "").split(",")):
        code, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if code.lower().startswith(("zh", "en")):
            weighted.append((-quality, position, code))
    return table_of(min(weighted)[2]) if weighted else "en"


def language_of(request) -> str:
    """The table ('en' or 'zh') for a gradio request: the switch's cookie, else the browser's."""
    if request is None:
        return "en"
    cookies = getattr(request, "cookies", None) or {}
    if cookies.get(COOKIE):
        return table_of(cookies[COOKIE])
    headers = getattr(request, "headers", None) or {}
    return best_of_accept_language(headers.get("accept-language"))
