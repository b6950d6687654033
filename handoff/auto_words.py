"""The words robots write: subjects of out-of-office replies in many languages, and the
phrases of challenge-response and moderation notices.  Tables, read by ``guards``.

Out-of-office subjects are what Outlook/Exchange, Gmail, Apple Mail, Thunderbird, Lotus
Notes and the common vacation programs put in front of the original subject, in each
language (``OUT_OF_OFFICE``: language -> sure phrases, words).  A sure phrase starts an
auto-reply's subject when a colon, a bracket, the end or "reply" follows it ("Out of
Office: ...", "【自動返信】...", "Out of office reply"); a word only when a colon follows
("Vacation: ..."), because people start subjects with those words too ("Vacation plans
for the team", "Automatic reply rules for the support inbox").
"""

from __future__ import annotations

import re

# language: (sure phrases, words that count only before a colon)
OUT_OF_OFFICE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (("automatic reply", "automatic response", "auto reply", "auto-reply", "autoreply",
            "auto response", "auto-response", "autoresponse", "auto answer",
            "out of office", "out of the office", "ooo"),
           ("vacation", "absence")),
    "de": (("automatische antwort", "autoantwort", "auto-antwort", "abwesenheitsnotiz",
            "abwesenheitsbenachrichtigung", "abwesenheitsmeldung", "nicht im büro"),
           ("abwesend",)),
    "fr": (("réponse automatique", "reponse automatique", "réponse en cas d'absence",
            "absent du bureau", "absente du bureau", "absence du bureau"),
           ("absent", "absente", "congé", "congés")),
    "es": (("respuesta automática", "respuesta automatica", "fuera de la oficina",
            "respuesta de ausencia"), ("ausente",)),
    "it": (("risposta automatica", "fuori sede", "fuori ufficio", "assente dall'ufficio",
            "risposta di assenza"), ("assente", "assenza")),
    "nl": (("automatisch antwoord", "afwezigheidsbericht", "niet aanwezig",
            "buiten kantoor", "afwezigheidsmelding"), ("afwezig",)),
    "pt": (("resposta automática", "resposta automatica", "fora do escritório",
            "fora do escritorio", "resposta de ausência"), ("ausente",)),
    "pl": (("automatyczna odpowiedź", "automatyczna odpowiedz", "odpowiedź automatyczna",
            "odpowiedz automatyczna", "poza biurem", "autoodpowiedź"),
           ("nieobecność", "nieobecnosc")),
    "sv": (("automatiskt svar", "autosvar", "frånvaromeddelande", "ej på kontoret",
            "inte på kontoret"), ("frånvarande", "frånvaro")),
    "da/no": (("automatisk svar", "ikke på kontoret", "ikke til stede", "fraværsmelding"),
              ("fraværende",)),
    "fi": (("automaattinen vastaus", "poissa toimistolta", "lomavastaaja"),
           ("poissa",)),
    "cs": (("automatická odpověď", "automaticka odpoved", "mimo kancelář"),
           ("nepřítomen", "nepřítomnost")),
    "hu": (("automatikus válasz", "házon kívül"), ("távol",)),
    "ro": (("răspuns automat", "raspuns automat", "în afara biroului"), ("absent",)),
    "tr": (("otomatik yanıt", "otomatik cevap", "ofis dışında"), ()),
    "el": (("αυτόματη απάντηση", "εκτός γραφείου"), ()),
    "ru": (("автоматический ответ", "автоответ", "нет на месте", "вне офиса"),
           ("отсутствую",)),
    "he": (("תשובה אוטומטית", "מחוץ למשרד", "מענה אוטומטי"), ()),
    "ar": (("رد تلقائي", "خارج المكتب"), ()),
    "ja": (("自動応答", "自動返信", "不在通知", "不在のお知らせ", "外出中", "休暇中"),
           ("不在",)),
    "zh": (("自动回复", "自動回覆", "自动答复", "自動回復", "不在办公室"), ()),
    "ko": (("자동 회신", "자동 응답", "자동회신", "부재중"), ("부재",)),
}

_COLON = r"\s*[:：]"
# after a sure phrase: a colon, a closing bracket or dash, the end, or "reply"/"response"
# ("Out of office reply"); "Automatic reply rules for the inbox" is a person's subject
_AFTER_SURE = r"(?:\s*(?:[:：\]】)\-–—]|$)|\s+(?:auto-?)?(?:reply|response)\b)"


def _alternatives(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _out_of_office_subject() -> re.Pattern[str]:
    sure = [p for phrases, _ in OUT_OF_OFFICE.values() for p in phrases]
    colon = [w for _, words in OUT_OF_OFFICE.values() for w in words]
    return re.compile(rf"^\s*[\[【(]?\s*(?:(?:{_alternatives(sure)}){_AFTER_SURE}|"
                      rf"(?:{_alternatives(colon)}){_COLON})", re.I)


OUT_OF_OFFICE_SUBJECT = _out_of_office_subject()

# Lotus Notes / HCL Domino: "AUTO: Smith, John is out of the office. (returning 12/05/2026)"
# (upper case as Notes writes it; "Auto: car insurance" is a person's subject), and the
# same sentence without the prefix when a gateway dropped it.
LOTUS_NOTES_SUBJECT = re.compile(r"^\s*AUTO\s*:\s")
LOTUS_NOTES_SENTENCE = re.compile(r"\bis out of (?:the )?office\b.{0,40}\breturning\b", re.I)

# Challenge-response systems (TMDA, SpamArrest, Boxbe, Mailbox-verification services)
# hold a mail until its sender proves to be a person.  Their subjects and first lines:
CHALLENGE_SUBJECT = re.compile(
    r"^\s*(?:re:\s*)?(?:\[[^\]]*\]\s*)?(?:"
    r"please (?:verify|confirm) (?:that )?you(?: a|')re (?:a )?(?:human|person|real)|"
    r"(?:sender|e-?mail) verification (?:required|request|needed)|"
    r"verify you are (?:a )?human|"
    r"your (?:e-?mail|message) (?:is )?(?:awaiting|pending|held for) (?:your )?"
    r"(?:verification|confirmation)|"
    r"confirm(?:ation)? (?:of )?your (?:e-?mail|message) (?:is )?(?:required|needed)"
    r")|spam ?arrest|\bboxbe\b|challenge[- ]response", re.I)
CHALLENGE_TEXT = re.compile(
    r"verify (?:that )?you are (?:a )?(?:human|real person|person)|"
    r"prove (?:that )?you(?: a|')re (?:a )?(?:human|person)|"
    r"(?:not|aren't) a (?:ro)?bot|"
    r"(?:reply to|click (?:on )?the link (?:below|in this (?:e-?mail|message)))[^.\n]{0,60}"
    r"(?:confirm|verify)|"
    r"(?:approved senders?|whitelist|white list|allow ?list|safe senders?) list|"
    r"added to (?:my|the) (?:approved senders|whitelist|allow ?list|safe senders)|"
    r"(?:held|quarantined|kept) (?:until|pending) (?:you|your|the sender)", re.I)

# List software holding a post for its moderators (Mailman, Sympa, LISTSERV, Google
# Groups, Majordomo): what they write in the subject.
MODERATION_SUBJECT = re.compile(
    r"awaits? moderator(?:'s)? approval|awaiting moderat|pending (?:moderator )?approval|"
    r"held for moderat|(?:is )?being held until the list moderator|"
    r"forwarded to the moderator|requires? (?:moderator )?approval|"
    r"wartet auf (?:die )?(?:Freigabe|Moderation)|en attente de modération", re.I)
# The robots' own addresses (not an owner/-request address of a list)
LIST_ROBOT_ADDRESS = re.compile(
    r"^(?:mailman|sympa|listserv|majordomo|ecartis|lyris|mlmmj)(?:[-+][^@]*)?@", re.I)
