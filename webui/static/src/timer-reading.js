// A timer's value read out in plain language: "15 minutes after the task starts".
const UNITS = {
  en: { Y: "years", M: "months", W: "weeks", D: "days", H: "hours", MIN: "minutes", S: "seconds" },
  zh: { Y: "年", M: "个月", W: "周", D: "天", H: "小时", MIN: "分钟", S: "秒" }
};

function duration(text, lang) {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(text.toUpperCase());
  if (!m || text.toUpperCase() === "P" || text.toUpperCase() === "PT") { return null; }
  const keys = ["Y", "M", "W", "D", "H", "MIN", "S"];
  const parts = [];
  keys.forEach((k, i) => { if (m[i + 1]) { parts.push(lang === "zh" ? m[i + 1] + " " + UNITS.zh[k] : m[i + 1] + " " + UNITS.en[k]); } });
  return parts.join(lang === "zh" ? " " : ", ");
}

export function readTimer(kind, value, lang, boundary) {
  const text = (value || "").trim().replace(/^['"]|['"]$/g, "");
  const after = boundary ? (lang === "zh" ? "任务开始后" : "after the task starts") : (lang === "zh" ? "之后" : "later");
  if (!text) { return lang === "zh" ? "未设定" : "not set"; }
  const d = duration(text, lang);
  if (kind === "timeDuration" && d) { return lang === "zh" ? `${after} ${d}` : `${d} ${after}`; }
  let m = /^working_hours\(\s*(\d+(?:\.\d+)?)\s*\)$/.exec(text);
  if (m) { return lang === "zh" ? `${after} ${m[1]} 个工作小时（按工作日历）` : `${m[1]} working hours ${after} (business calendar)`; }
  m = /^(minutes|hours)\(\s*(\d+(?:\.\d+)?)\s*\)$/.exec(text);
  if (m) {
    const unit = m[1] === "minutes" ? (lang === "zh" ? "分钟" : "minutes") : (lang === "zh" ? "小时" : "hours");
    return lang === "zh" ? `${after} ${m[2]} ${unit}` : `${m[2]} ${unit} ${after}`;
  }
  if (/^next_working_morning\(\s*\)$/.test(text)) { return lang === "zh" ? "下一个工作日早上" : "the next working morning"; }
  m = /^R(\d+)\/(P[^/]+)$/i.exec(text);
  if (kind === "timeCycle" && m && duration(m[2], lang)) {
    return lang === "zh" ? `每 ${duration(m[2], lang)} 一次，共 ${m[1]} 次` : `every ${duration(m[2], lang)}, ${m[1]} times`;
  }
  if (/^\d{4}-\d\d-\d\d/.test(text)) { return lang === "zh" ? `于 ${text}` : `at ${text}`; }
  return lang === "zh" ? "由表达式计算" : "computed by the expression";
}
