"""Pure logic and single modules: no app server, no trainer."""
