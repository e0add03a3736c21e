/** "14:05" for today's messages, "3 Jan, 14:05" for older ones, in the reader's locale and zone. */
export function formatMessageTime(iso: string, now: Date = new Date(), locale?: string, timeZone?: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return '';
  const day = new Intl.DateTimeFormat(locale, { year: 'numeric', month: 'numeric', day: 'numeric', timeZone });
  const sameDay = day.format(at) === day.format(now);
  return new Intl.DateTimeFormat(
    locale,
    sameDay
      ? { hour: '2-digit', minute: '2-digit', timeZone }
      : { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZone },
  ).format(at);
}
