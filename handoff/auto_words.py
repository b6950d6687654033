"""The words robots write: subjects of out-of-office replies in many languages, and the
phrases of challenge-response, moderation, recall and calendar notices.  Tables, read by
``guards``.

Out-of-office subjects are what Outlook/Exchange, Gmail, Apple Mail, Thunderbird, Lotus
Notes and the common vacation programs put in front of the original subject, in each
language (``OUT_OF_OFFICE``: language -> reply phrases, state phrases, words).

- A *reply phrase* names the automatic answer itself ("Automatic reply", "Abwesenheits-
  notiz", "自動返信"): it starts an auto-reply's subject when a colon, a bracket, a dash,
  the end or "reply" follows it ("Automatic reply: ...", "【自動返信】...").
- A *state phrase* says where the person is ("Out of office", "OOO", "Fuori ufficio",
  "休暇中"): people hand work over under exactly these words ("Out of office - handover
  of the TLS renewal", "OOO", "【休暇中】引き継ぎ"), so it counts only with a colon or
  "reply" after it ("Out of Office: ...", "Out of office reply"), the forms clients write.
- A *word* counts only before a colon ("Vacation: ..."), because people start subjects
  with those words too ("Vacation plans for the team").

The one deliberate limit: a person's subject of exactly the robots' form ("Out of office:
please cover the rota", "Vacation: ...") reads as an auto-reply.
"""

from __future__ import annotations

import re

# language: (reply phrases, state phrases, words that count only before a colon)
OUT_OF_OFFICE: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "en": (("automatic reply", "automatic response", "auto reply", "auto-reply", "autoreply",
            "auto response", "auto-response", "autoresponse", "auto answer"),
           ("out of office", "out of the office", "ooo"), ("vacation", "absence")),
    "de": (("automatische antwort", "autoantwort", "auto-antwort", "abwesenheitsnotiz",
            "abwesenheitsbenachrichtigung", "abwesenheitsmeldung"), ("nicht im büro",),
           ("abwesend",)),
    "fr": (("réponse automatique", "reponse automatique", "réponse en cas d'absence"),
           ("absent du bureau", "absente du bureau", "absence du bureau"),
           ("absent", "absente", "congé", "congés")),
    "es": (("respuesta automática", "respuesta automatica", "respuesta de ausencia"),
           ("fuera de la oficina",), ("ausente",)),
    "ca": (("resposta automàtica",), (), ()),
    "it": (("risposta automatica", "risposta di assenza"),
           ("fuori sede", "fuori ufficio", "assente dall'ufficio"), ("assente", "assenza")),
    "nl": (("automatisch antwoord", "afwezigheidsbericht", "afwezigheidsmelding"),
           ("niet aanwezig", "buiten kantoor"), ("afwezig",)),
    "pt": (("resposta automática", "resposta automatica", "resposta de ausência"),
           ("fora do escritório", "fora do escritorio"), ("ausente",)),
    "pl": (("automatyczna odpowiedź", "automatyczna odpowiedz", "odpowiedź automatyczna",
            "odpowiedz automatyczna", "autoodpowiedź"), ("poza biurem",),
           ("nieobecność", "nieobecnosc")),
    "sv": (("automatiskt svar", "autosvar", "frånvaromeddelande"),
           ("ej på kontoret", "inte på kontoret"), ("frånvarande", "frånvaro")),
    "da/no": (("automatisk svar", "fraværsmelding"), ("ikke på kontoret", "ikke til stede"),
              ("fraværende",)),
    "fi": (("automaattinen vastaus", "lomavastaaja"), ("poissa toimistolta",), ("poissa",)),
    "et": (("automaatvastus", "automaatne vastus"), (), ()),
    "lt": (("automatinis atsakymas",), (), ()),
    "lv": (("automātiskā atbilde", "automatiska atbilde"), (), ()),
    "cs": (("automatická odpověď", "automaticka odpoved"), ("mimo kancelář",),
           ("nepřítomen", "nepřítomnost")),
    "sk": (("automatická odpoveď", "automaticka odpoved"), (), ()),
    "sl": (("samodejni odgovor",), (), ()),
    "hr/sr/bs": (("automatski odgovor", "аутоматски одговор"), (), ()),
    "hu": (("automatikus válasz",), ("házon kívül",), ("távol",)),
    "ro": (("răspuns automat", "raspuns automat"), ("în afara biroului",), ()),
    "bg": (("автоматичен отговор",), (), ()),
    "uk": (("автоматична відповідь",), (), ()),
    "tr": (("otomatik yanıt", "otomatik cevap"), ("ofis dışında",), ()),
    "el": (("αυτόματη απάντηση",), ("εκτός γραφείου",), ()),
    "ru": (("автоматический ответ", "автоответ"), ("нет на месте", "вне офиса"),
           ("отсутствую",)),
    "he": (("תשובה אוטומטית", "מענה אוטומטי"), ("מחוץ למשרד",), ()),
    "ar": (("رد تلقائي",), ("خارج المكتب",), ()),
    "id/ms": (("balasan otomatis", "balasan automatik"), (), ()),
    "vi": (("trả lời tự động",), (), ()),
    "th": (("ตอบกลับอัตโนมัติ",), (), ()),
    "ja": (("自動応答", "自動返信", "不在通知", "不在のお知らせ"), ("外出中", "休暇中"),
           ("不在",)),
    "zh": (("自动回复", "自動回覆", "自动答复", "自動回復"), ("不在办公室",), ()),
    "ko": (("자동 회신", "자동 응답", "자동회신"), ("부재중",), ("부재",)),
}

_COLON = r"\s*[:：]"
# after a reply phrase: a colon, a closing bracket or dash, the end, or "reply"/"response"
# ("Auto reply - ..."); "Automatic reply rules for the inbox" is a person's subject
_AFTER_REPLY = r"(?:\s*(?:[:：\]】)\-–—]|$)|\s+(?:auto-?)?(?:reply|response)\b)"
# after a state phrase: a colon or "reply"/"response" ("Out of Office AutoReply: ...");
# "Out of office - handover of the TLS renewal" and a bare "OOO" are people's subjects
_AFTER_STATE = r"(?:\s*[:：]|\s+(?:auto-?)?(?:reply|response)\b)"


def _alternatives(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _out_of_office_subject() -> re.Pattern[str]:
    reply = [p for phrases, _, _ in OUT_OF_OFFICE.values() for p in phrases]
    state = [p for _, phrases, _ in OUT_OF_OFFICE.values() for p in phrases]
    colon = [w for _, _, words in OUT_OF_OFFICE.values() for w in words]
    return re.compile(rf"^\s*[\[【(]?\s*(?:(?:{_alternatives(reply)}){_AFTER_REPLY}|"
                      rf"(?:{_alternatives(state)}){_AFTER_STATE}|"
                      rf"(?:{_alternatives(colon)}){_COLON})", re.I)


OUT_OF_OFFICE_SUBJECT = _out_of_office_subject()

# Lotus Notes / HCL Domino: "AUTO: Smith, John is out of the office (returning 12/08/2026)"
# (upper case as Notes writes it), or the same sentence without the prefix when a gateway
# dropped it.  "AUTO:" counts only with Notes' away words after it: people tag subjects
# about cars that way ("AUTO: Leasingrückgabe am Freitag"), and "Ana is out of the office,
# returning Monday" is a person's sentence (Notes writes the date in figures, in brackets).
LOTUS_NOTES_SUBJECT = re.compile(
    r"^\s*AUTO\s*:\s(?i:.*?(?:\bout of (?:the )?office\b|außer haus|\babwesend\b|"
    r"\babsente?\b|\bausente\b|\bassente\b|\bafwezig\b|"
    r"\(\s*(?:returning|retour|zurück|rückkehr|ritorno|regreso|retorno|terug)\b))")
LOTUS_NOTES_SENTENCE = re.compile(
    r"\bis out of (?:the )?office\b\.?\s*\(\s*returning\s+[\d./-]+\s*\)", re.I)

# Challenge-response systems hold a mail until its sender proves to be a person.  Their
# subjects: TMDA's "Please confirm your message", "[Spam Arrest Sender Verification]",
# "Please verify you are human: ...", "Sender verification required: ...".  Anchored,
# whole forms: "Challenge-response login for the kiosk" or "Should we use Boxbe?" and
# "Email verification needed for the new CRM users" are people's subjects.
CHALLENGE_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:"
    r"please (?:verify|confirm) (?:that )?you(?: a|')re (?:a )?(?:human|person|real)|"
    r"sender verification (?:required|request|needed)|"
    r"verify you are (?:a )?human|"
    r"please confirm your (?:e-?mail )?message\s*(?:$|[:(\[])|"
    r"your (?:e-?mail|message) (?:is )?(?:awaiting|pending|held for) (?:your )?"
    r"(?:verification|confirmation)|"
    r"confirm(?:ation)? (?:of )?your (?:e-?mail|message) (?:is )?(?:required|needed)"
    r")|\[spam ?arrest[^\]]*\]|spam ?arrest sender verification", re.I)
# Their text says two things a person's mail about captchas or allow lists does not say
# together: that *your message* is held (or that the writer uses such a system), and what
# to do to release it.  TMDA, SpamArrest, Boxbe and the generic "sender verification"
# services all say both in their first lines.
CHALLENGE_HELD = re.compile(
    r"\byour (?:e-?mail |mail )?(?:message|e-?mail|mail)\b(?:[^.\n]|\.(?=\S)){0,120}?"
    r"\b(?:has been|was|is|is being|will be) (?:held|quarantined|waitlisted|kept|"
    r"not (?:yet )?(?:been )?delivered)\b|"
    r"\b(?:junk-?mail|spam) (?:reduction|protection|filtering) (?:system|service)|"
    r"\bprotect (?:myself|my inbox|my mailbox) (?:from|against) (?:receiving )?(?:junk|spam)|"
    r"\b(?:sender verification|challenge[- ]response) (?:system|service|program)", re.I)
CHALLENGE_PROVE = re.compile(
    r"\b(?:verify|prove|confirm) (?:that )?you(?: a|')re (?:a )?(?:human|real|person|not a)|"
    r"\blegitimate and not (?:junk|spam)|"
    r"\bto release (?:your|the) message\b|\bcomplete the verification\b|"
    r"\b(?:approved|authori[sz]ed) senders? list\b|\bmy guest list\b|"
    r"\b(?:reply to this (?:e-?mail|message)|click (?:on )?the link)[^.\n]{0,60}"
    r"\b(?:confirm|verify) (?:that )?(?:you|your (?:e-?mail|message|address)|"
    r"(?:it|this) (?:is|was) (?:you|sent by a person))", re.I)

# List software writing to a poster about a held post: Mailman 2 and 3 ("Your message to
# Ops awaits moderator approval"), mlmmj and Google Groups ("Your post to ... is awaiting
# moderation"), Majordomo 2, in their own words.  The subject starts with "Your message
# ..." (in English, German, French or Spanish): a person's "Forum posts awaiting
# moderation" or "Invoice 4411 pending approval" is not a list's notice.
MODERATION_SUBJECT = re.compile(
    r"^\s*(?:your (?:message|post|posting|mail|e-?mail|submission)|ihre (?:nachricht|e-?mail)|"
    r"votre (?:message|courriel)|su mensaje)\b.{0,160}?"
    r"(?:\bawaits? moderator|\bawaiting moderat|\bpending moderat|\bheld for (?:moderat|approval)|"
    r"\bbeing held until the list moderator|\bforwarded to the (?:list )?moderator|"
    r"\bsubmitted to the (?:list )?(?:moderator|editor)|\brequires? moderator approval|"
    r"wartet auf (?:die )?(?:Freigabe|Moderation)|en attente de modération|"
    r"pendiente de moderación)", re.I)
# Where list software is known to be writing (its own address, a List-Id, Mailman's
# administrivia mark), what its notice says happened to the post: refused, held for the
# moderators (Mailman's "Is being held until the list moderator can review it", Sympa's
# "has been forwarded to the moderator(s)", LISTSERV's "submitted to the editor"), or
# distributed.  Refusals are read first: "rejected by the list moderator" is no hold.
LIST_REFUSED = re.compile(r"\b(?:reject|denied|refused|discarded|not allowed)", re.I)
LIST_HELD_SUBJECT = re.compile(r"moderat|approval|Freigabe|modération|\bheld\b", re.I)
LIST_HELD_TEXT = re.compile(
    r"\b(?:is being held|has been held|is held|held until|held for)\b|"
    r"\b(?:forwarded|submitted) to the (?:list )?(?:moderator|editor)|"
    r"\bawait(?:s|ing) (?:moderat|the moderator)|\bpending moderat", re.I)
# Sympa's "Message ... for list 'ops' has been distributed", LISTSERV's "has been
# successfully distributed to the OPS-L list": the post went out.
LIST_DISTRIBUTED = re.compile(
    r"\bhas been (?:successfully |confirmed and )?distributed\b|\bwas distributed\b|"
    r"\bmessage distributed\b", re.I)
# List software refusing a post, in its own subjects: Mailman's "Request to mailing list
# Ops rejected", mlmmj's and others' "Post to ops@... denied: ...".
LIST_REFUSAL_SUBJECT = re.compile(
    r"^\s*(?:request to mailing list \S.{0,100}? rejected\b|"
    r"post to [^\s@]+@[^\s@]+ (?:denied|rejected)\b)", re.I)
# The same robots' subjects where the sender is a list's role address ("ops-owner@",
# "ops-request@") without a list's headers: then "Post to ops denied" is the list's.
LIST_ROLE_SUBJECT = re.compile(
    r"^\s*(?:post to \S{1,100} (?:denied|rejected)\b|request to mailing list\b|"
    r"confirm [0-9a-f]{12,}|welcome to the \S.{0,100}? (?:mailing )?list\b)|"
    r"\bnot (?:a )?(?:list )?member\b|\bsubscription (?:confirmation|request)\b", re.I)
# Mailman's (2 and 3) auto-responder to a post: an auto-reply, not a refusal.
LIST_AUTORESPONSE_SUBJECT = re.compile(
    r"^\s*auto-?response for your message to (?:the )?\S.{0,100}? mailing list", re.I)
# The robots' own addresses (not an owner/-request address of a list)
LIST_ROBOT_ADDRESS = re.compile(
    r"^(?:mailman|sympa|listserv|majordomo|ecartis|lyris|mlmmj)(?:[-+][^@]*)?@", re.I)

# Outlook's non-read receipt: a disposition notice with "deleted" like a Sieve reject
# (RFC 5429), but its subject and text say the person deleted it unread; it is a receipt,
# not a refusal by the mailbox.
NOT_READ = re.compile(
    r"^\s*(?:not read|ungelesen|nicht gelesen|non lu|no leído|no leido|non letto|"
    r"niet gelezen|não lida|nao lida|nie przeczytano)\s*[:：]|"
    r"\bdeleted without being read\b|\bungelesen gelöscht\b|\bsupprimé sans avoir été lu\b",
    re.I)

# Outlook's recall request ("Recall This Message") crosses to other servers as a plain
# mail from the sender: subject "Recall: <subject>", text "<Name> would like to recall the
# message, "<subject>"."  Both are needed: "Recall: the Q3 numbers were wrong" is a person.
RECALL_SUBJECT = re.compile(r"^\s*(?:recall|rückruf|rappel)\s*[:：]", re.I)
RECALL_TEXT = re.compile(
    r"\bwould like to recall the message\b|\bmöchte die Nachricht\b.{0,200}?\bzurückrufen\b|"
    r"\bsouhaite rappeler le message\b", re.I)

# A calendar's answer to an invitation (iTIP REPLY, RFC 5546): Outlook, Exchange resource
# mailboxes that accept by themselves, Google Calendar, Apple Calendar.  Known by its
# subject's first word together with a text/calendar part: an invitation a person sends
# (METHOD:REQUEST) has a subject of its own.
CALENDAR_REPLY_SUBJECT = re.compile(
    r"^\s*(?:accepted|declined|tentative|tentatively accepted|new time proposed|"
    r"angenommen|zugesagt|abgelehnt|abgesagt|mit vorbehalt(?: angenommen)?|"
    r"accepté|refusé|provisoire|accepté provisoirement|"
    r"aceptado|rechazado|provisional|aceptado provisionalmente|"
    r"accettato|rifiutato|provvisorio|geaccepteerd|geweigerd|voorlopig|"
    r"aceito|aceite|recusado|provisório)\s*[:：]", re.I)
