// The staff console's texts, English and Japanese.
export const consoleMessages = {
  en: {
    "console.brand": "Shop console",
    "console.nav.home": "Overview",
    "console.home.title": "Overview",
    "console.home.hello": "Signed in as staff: choose a task above.",
  },
  ja: {
    "console.brand": "ショップ管理",
    "console.nav.home": "概要",
    "console.home.title": "概要",
    "console.home.hello": "スタッフとしてサインインしています。上のメニューから作業を選んでください。",
  },
};
