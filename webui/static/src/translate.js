// diagram-js `translate` in the page's language: the modeler, properties panel and lint messages.
// The English texts are looked up in the page's catalog (window.PF_EDITOR.translations).
function translate(template, replacements) {
  const table = (window.PF_EDITOR && window.PF_EDITOR.translations) || {};
  const text = table[template] || template;
  return text.replace(/{([^}]+)}/g, (_m, key) => (replacements && key in replacements ? replacements[key] : `{${key}}`));
}

export default { translate: ["value", translate] };
