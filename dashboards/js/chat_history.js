// The chat page's conversation, kept in this browser's localStorage per user (one key per account id, so
// people sharing a browser never see each other's questions), capped in entries and in size.

const KEY_PREFIX = "om.chat.";
/** The most exchanges kept; older ones are dropped first. */
export const MAX_ENTRIES = 50;
/** The most characters of JSON kept per user (localStorage holds about 5 M for the whole origin). */
export const MAX_CHARS = 400_000;

function keyOf(userId) {
  return `${KEY_PREFIX}${userId}`;
}

function valid(entry) {
  return (
    entry !== null &&
    typeof entry === "object" &&
    typeof entry.question === "string" &&
    entry.answer !== null &&
    typeof entry.answer === "object" &&
    typeof entry.answer.answer === "string"
  );
}

/** The user's exchanges, oldest first: [{question, answer, at}]; [] when none or unreadable. */
export function loadHistory(userId) {
  try {
    const saved = JSON.parse(localStorage.getItem(keyOf(userId)));
    return Array.isArray(saved) ? saved.filter(valid) : [];
  } catch {
    return [];
  }
}

// An answer whose tables and charts alone pass the cap is kept as its text.
function withoutData(entry) {
  return { ...entry, answer: { ...entry.answer, data: [] }, trimmed: true };
}

/**
 * The newest exchanges that fit the caps, oldest first: at most MAX_ENTRIES, and at most MAX_CHARS of JSON
 * (an exchange too large on its own keeps its text without its data).
 */
export function capped(entries, maxEntries = MAX_ENTRIES, maxChars = MAX_CHARS) {
  const kept = [];
  let size = 2;
  for (let i = entries.length - 1; i >= 0 && kept.length < maxEntries; i -= 1) {
    let entry = entries[i];
    let cost = JSON.stringify(entry).length + 1;
    if (cost + 2 > maxChars && kept.length === 0) {
      entry = withoutData(entry);
      cost = JSON.stringify(entry).length + 1;
    }
    if (size + cost > maxChars) break;
    kept.push(entry);
    size += cost;
  }
  return kept.reverse();
}

/** Add one exchange to the user's history (trimmed to the caps); returns the history as stored. */
export function appendHistory(userId, question, answer) {
  const entries = capped([...loadHistory(userId), { question, answer, at: Date.now() }]);
  try {
    localStorage.setItem(keyOf(userId), JSON.stringify(entries));
  } catch {
    // The origin's storage is full (other keys): keep what fits in half the room, else nothing.
    const half = capped(entries, MAX_ENTRIES, MAX_CHARS / 2);
    try {
      localStorage.setItem(keyOf(userId), JSON.stringify(half));
      return half;
    } catch {
      localStorage.removeItem(keyOf(userId));
      return [];
    }
  }
  return entries;
}

/** Forget the user's history. */
export function clearHistory(userId) {
  localStorage.removeItem(keyOf(userId));
}
