// The storefront's texts, English and Japanese.
export const storeMessages = {
  en: {
    "store.brand": "VOD shop",
    "store.nav.products": "Products",
    "store.products.title": "Products",
    "store.products.empty": "Nothing on sale yet.",
  },
  ja: {
    "store.brand": "VOD ショップ",
    "store.nav.products": "商品",
    "store.products.title": "商品一覧",
    "store.products.empty": "まだ販売中の商品はありません。",
  },
};
