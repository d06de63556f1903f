"""The page's views, one module per group of tabs; each show_*() draws one tab."""
