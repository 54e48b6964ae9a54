"""The phrase banks e-mail-shaped tickets are built from, each split into a train and a val half.

Everything here was written for this project. Every :class:`Bank` holds two disjoint tuples: the
``val`` half holds back about a third of the phrasings (greetings, signatures, footers, disclaimers,
quoted earlier messages, quote header styles, HTML flavours) so that validation measures how well a
model or cleaner copes with wordings and layouts it never saw in training. The assembly is in
:mod:`worker.training.data.synthetic.emails`; the quote header formats (how each mail client and language
introduces a quoted message) are here too, with the phrases.

Templates use ``str.format`` fields: ``{agent}``, ``{customer}``, ``{bank}``, ``{ref}``, ``{years}``,
``{year}``, ``{account}``, ``{amount}``, ``{n}`` (a street number) and ``#`` for a random digit.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Literal

Part = Literal["train", "val"]
PARTS: tuple[Part, ...] = ("train", "val")


@dataclass(frozen=True)
class Bank:
    """One kind of phrase, split so that validation e-mails use phrasings training never shows."""

    train: tuple[str, ...]
    val: tuple[str, ...]

    def of(self, part: Part) -> tuple[str, ...]:
        """The phrases of one part; anything but "train" or "val" is a caller's mistake."""
        if part == "train":
            return self.train
        if part == "val":
            return self.val
        raise ValueError(f"part must be 'train' or 'val', not {part!r}")

    def pick(self, part: Part, rng: random.Random) -> str:
        """One phrase of the part, drawn with ``rng``."""
        return rng.choice(self.of(part))


GREETINGS = Bank(
    train=("Hi,", "Hello,", "Hello team,", "Dear Sir or Madam,", "Good morning,", "Hi there,", "Dear Support,",
           "Hi {agent},", "Dear {bank} team,", "Hey,", "Good afternoon,", "To whom it may concern,",
           "Dear Customer Services,", "Hiya,", "Hello {agent},", "Hi team"),
    val=("Hello there,", "Dear {agent},", "Good evening,", "Greetings,", "Hi all,", "Dear Support Team,",
         "Morning,", "Hello {bank},", "Hi folks"),
)
OPENERS = Bank(
    train=("I hope you are well.", "I have been a customer for {years} years.",
           "I'm writing because I have a question about my account.", "I hope this email finds you well.",
           "Sorry to bother you again.", "I tried the app first but couldn't find an answer.",
           "I called yesterday but nobody picked up.", "Quick question.", "I couldn't find this in your FAQ.",
           "My account number is {account}.", "The chat assistant told me to email you.",
           "I'm writing on behalf of my elderly mother, who holds the account."),
    val=("Hope you're doing well.", "I've banked with you since {year}.", "I am contacting you regarding my account.",
         "Apologies for the long email.", "Your chatbot couldn't help me.", "I have a query.",
         "My customer number is {account}.", "A friend gave me this address."),
)
FOLLOW_UPS = Bank(
    train=("This is the second time I'm asking.", "Please get back to me as soon as possible.",
           "Thanks in advance for your help.", "I look forward to hearing from you.",
           "Let me know if you need anything else from me.", "It's quite urgent.", "My reference number is {ref}.",
           "I need this sorted before the weekend.", "Any help would be appreciated.",
           "I'm travelling next week so a quick answer would help."),
    val=("I'd appreciate a quick reply.", "I have been waiting for a week now.", "Please advise.",
         "Can you call me back on the number below?", "This is really frustrating.", "Your reference was {ref}.",
         "Hoping to hear from you soon."),
)
SIGN_OFFS = Bank(
    train=("Thanks,", "Kind regards,", "Cheers", "Thank you,", "Regards,", "Best,", "Many thanks,", "Best regards,",
           "Thanks!", "Sincerely,", "Yours faithfully,", "Thanks in advance,"),
    val=("Warm regards,", "Cheers!", "Thanks again,", "All the best,", "Yours sincerely,", "Respectfully,", "Thx",
         "Best wishes,"),
)
FIRST_NAMES = Bank(
    train=("Alex", "Maria", "James", "Priya", "Chen", "Fatima", "Lukas", "Olivia", "Noah", "Aisha", "Tom", "Sofia",
           "Daniel", "Emma", "Grace", "Ivan"),
    val=("Chloe", "Ben", "Hannah", "Diego", "Yuki", "Kofi", "Omar", "Nina"),
)
LAST_NAMES = Bank(
    train=("Smith", "Patel", "Garcia", "Müller", "Nguyen", "Brown", "Kowalski", "Rossi", "Khan", "Johnson", "Murphy"),
    val=("Dubois", "Silva", "Novak", "Okafor", "Jensen", "O'Brien"),
)
#: How the customer writes their own name under the sign-off.
NAME_FORMS = Bank(train=("{first}", "{first} {last}", "{first_initial}. {last}", "{first_lower}"),
                  val=("{first} {last_initial}.", "{last}, {first}", "{FIRST} {LAST}"))
JOB_TITLES = Bank(
    train=("Office Manager", "Senior Software Engineer", "Accounts Payable Clerk", "Director of Operations",
           "Freelance Photographer", "Teacher", "Project Coordinator", "Sales Executive"),
    val=("Head of Procurement", "Registered Nurse", "Marketing Consultant", "Chief Financial Officer",
         "PhD Candidate"),
)
COMPANIES = Bank(
    train=("Brightline Logistics Ltd", "Oakfield Dental Practice", "Northwind Traders", "Bluefin Analytics GmbH",
           "Greenway Property Services", "Riverside Primary School"),
    val=("Halcyon Studio LLC", "Marlow & Finch Solicitors", "Copperleaf Consulting SARL", "Tern Valley Farms"),
)
PHONES = Bank(
    train=("+44 20 #### ####", "07### ######", "(555) ###-####", "+1 555-###-####", "Tel: 030 #######",
           "Mobile: +49 151 ########", "Phone: +44 (0) 1### ######", "Mob 07###-###-###"),
    val=("+33 6 ## ## ## ##", "M: +1.555.###.####", "T +61 4## ### ###", "Ph. 0### ### ###", "Cell 555.###.####"),
)
ADDRESSES = Bank(
    train=("{n} Baker Street, London NW1 6XE", "{n} Elm Avenue, Springfield, IL 62704",
           "Hauptstraße {n}, 10115 Berlin", "Unit {n}, Riverside Business Park, Leeds LS11 5DR",
           "{n} Harbour Road\nDublin 4, Ireland", "Flat {n}, 3 Queen's Gardens\nEdinburgh EH2 1AB"),
    val=("{n} rue des Lilas, 75011 Paris", "Calle Mayor {n}, 28013 Madrid",
         "Suite {n}, 200 King St W\nToronto ON M5H 3T4", "{n} Station Approach, Bristol BS1 6QF"),
)
#: The local part of the customer's address, from their ascii, lower-case names.
MAIL_NAMES = Bank(train=("{first}.{last}", "{first}{last}", "{fi}.{last}", "{first}##"),
                  val=("{first}_{last}", "{fi}{last}##", "{last}.{first}"))
MAIL_DOMAINS = Bank(train=("mail.example.com", "example.org", "post.example.net", "inbox.example"),
                    val=("example.co.uk", "webmail.example"))
#: The line a signature starts with ("" for none).
SIGNATURE_SEPARATORS = Bank(train=("-- ", "", "__________", "--"), val=("—", "~~~", "*****"))
#: Which lines a signature has, in order; "|" joins fields on one line.
SIGNATURE_LAYOUTS = Bank(
    train=("name", "name title company", "name title company phone", "name phone", "name company address phone",
           "name title company phone email web", "name email phone"),
    val=("name|title|company phone", "name title|company address", "name phone|email web"),
)
DEVICE_FOOTERS = Bank(
    train=("Sent from my iPhone", "Get Outlook for Android", "Sent from my Samsung Galaxy smartphone.",
           "Sent from Mail for Windows", "Sent from Yahoo Mail on Android", "Sent from my iPad",
           "Von meinem iPhone gesendet", "Get Outlook for iOS<https://aka.ms/o0ukef>"),
    val=("Get Outlook for iOS", "Sent from my Pixel", "Envoyé de mon iPhone", "Sent with Proton Mail secure email.",
         "Enviado desde mi iPhone", "Sent from my BlackBerry 10 smartphone."),
)
DISCLAIMERS = Bank(
    train=(
        "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and may be legally privileged. "
        "If you are not the intended recipient, please notify the sender immediately and delete it. Any "
        "unauthorised use, disclosure or copying is strictly prohibited.",
        "This message is intended only for the addressee. If you have received it in error, please tell us by "
        "return e-mail and delete it from your system. {company} is registered in England and Wales, "
        "company no. 0######.",
        "DISCLAIMER: The views expressed in this email are those of the author and do not necessarily represent "
        "those of {company}. We accept no liability for any damage caused by viruses transmitted by this email.",
        "The information in this email is private. If you are not the named recipient you must not read, copy "
        "or forward it.\nThank you.",
        "Diese E-Mail enthält vertrauliche Informationen. Wenn Sie nicht der richtige Adressat sind, informieren "
        "Sie bitte sofort den Absender und vernichten Sie diese E-Mail.",
    ),
    val=(
        "PRIVILEGED & CONFIDENTIAL. This communication may contain information protected by law. Should you "
        "receive it by mistake, kindly let us know and erase every copy; do not pass it on.",
        "Notice: {company} will never ask you for your password by e-mail. This e-mail and its contents are "
        "subject to our privacy policy.",
        "Ce message et ses pièces jointes sont confidentiels. Si vous n'êtes pas le destinataire, merci de le "
        "détruire et d'avertir l'expéditeur.",
    ),
)
MARKETING_FOOTERS = Bank(
    train=("Please consider the environment before printing this email.", "Follow us on LinkedIn | Twitter | Instagram",
           "We're hiring! See our open roles at careers.example.com",
           "Book a meeting with me: meet.example.com/{first}",
           "This email has been checked for viruses by Avast antivirus software.",
           "Winner of the Regional Business Award 2023"),
    val=("Think green: do you really need to print this?", "Our offices will be closed on 26 December.",
         "Download our new app on the App Store and Google Play.", "Rated Excellent on Trustpilot ★★★★★"),
)
#: The sender's bank, named in quoted replies and greetings.
BANK_NAMES = Bank(train=("Acme Bank", "Nova Bank", "Harbor Bank", "Crest Bank", "Pine Savings", "Orbit Pay"),
                  val=("Northway Bank", "Kite Card", "Summit Finance"))
#: How the bank's support address appears in quote headers: name, mailbox.
SUPPORT_SENDERS = Bank(train=("{bank} Support|support", "{agent} from {bank}|help", "{bank} Customer Care|care"),
                       val=("{bank}|noreply", "{agent} ({bank} Help Centre)|helpdesk"))

# Earlier messages quoted below the new one: "subject|text". Agent replies (the bank's earlier answer to
# another question) and the customer's own earlier messages or bank notifications they forward. They
# are about banking too, which is what makes the quote hard to tell from the request.
AGENT_REPLIES = Bank(
    train=(
        "Your card order|Hi {customer},\n\nThank you for contacting {bank}. Your new card was dispatched on Monday "
        "and should arrive within 3-5 working days.\n\nIf it has not arrived by then, just reply to this email."
        "\n\nKind regards,\n{agent}\n{bank} Support",
        "Your recent transfer|Hello {customer},\n\nI have checked the transfer of {amount} you asked about. It was "
        "sent successfully and the receiving bank should credit it today.\n\nBest wishes,\n{agent}",
        "Re: Account verification|Dear {customer},\n\nThanks for sending your documents. Unfortunately the photo "
        "of your ID was blurry. Could you please upload a clearer picture in the app?\n\nMany thanks,\n{agent}\n"
        "Customer Care Team",
        "Case {ref}|Hi {customer},\n\nWe're sorry for the trouble with your top-up. We have refunded the fee of "
        "{amount} to your account. Is there anything else we can help with?\n\n{agent} | {bank}",
        "Your enquiry|Hello,\n\nThank you for your message. To help you further, please confirm the last four "
        "digits of your card and the date of the payment.\n\nRegards,\n{bank} Customer Services",
        "Re: PIN|Hi {customer},\n\nYou can view your PIN in the app under Card > Security. For your safety we "
        "will never send it by email.\n\nThanks,\n{agent}",
    ),
    val=(
        "Update on your complaint|Dear {customer},\n\nWe have completed our review of your complaint ({ref}). "
        "The disputed payment of {amount} has been returned to your balance.\n\nYours sincerely,\n{agent}\n"
        "Complaints Team, {bank}",
        "Your question about exchange rates|Hi {customer},\n\nGreat question! We use the interbank rate on "
        "weekdays and add a small markup at weekends.\n\nHave a lovely day,\n{agent}",
        "Ticket {ref} closed|Hello {customer},\n\nWe haven't heard back from you, so we have closed this ticket. "
        "Simply reply if you still need help with your direct debit.\n\n— The {bank} team",
        "Re: Address change|Dear {customer},\n\nYour address has now been updated. Statements will be sent to "
        "the new address from next month.\n\nBest regards,\n{agent}",
    ),
)
CUSTOMER_EARLIER = Bank(
    train=(
        "Standing order|Hi,\n\nCan you tell me how to cancel a standing order? I can't find it in the app.\n\n"
        "Thanks,\n{customer}",
        "Card payment declined|Hello,\n\nMy card was declined at a restaurant last night even though I had "
        "money on the account. Why?\n\n{customer}",
        "Your card is on its way|Good news, {customer}! Your {bank} card has been posted. It should reach you "
        "within a week. Activate it in the app when it arrives.",
        "Statement|Dear {bank},\n\nPlease send me a statement for March, I need it for my landlord.\n\n"
        "Regards,\n{customer}",
        "Security alert|We noticed a sign-in to your {bank} account from a new device. If this was you, you "
        "don't need to do anything.",
    ),
    val=(
        "Overdraft|Hi there,\n\nIs it possible to get an overdraft of {amount}? I am self-employed.\n\n"
        "Many thanks,\n{customer}",
        "Payment received|You have received {amount} from J. Walker. The money is now in your account.",
        "Login problems|Hello,\n\nThe app keeps logging me out since the update. I'm on Android.\n\n{customer}",
    ),
)
#: How a quoted thread is introduced; see ``emails._quote_header``.
QUOTE_STYLES = Bank(train=("gmail", "outlook_original", "outlook_underscore", "apple", "forwarded", "german",
                           "spanish", "yahoo"),
                    val=("thunderbird", "french", "outlook_german", "apple_forward"))
#: The styles that forward a message rather than reply to it.
FORWARD_STYLES = frozenset({"forwarded", "apple_forward"})
#: How an HTML body marks up its paragraphs.
HTML_FLAVOURS = Bank(train=("gmail_div", "paragraphs"), val=("mso",))

GENERIC_SUBJECTS = Bank(
    train=("Help", "Question", "(no subject)", "Re: your message", "Query", "Urgent", "Support request", "Hello",
           "My account", "Problem", "help please", "RE: Your email"),
    val=("Please help", "Enquiry", "Re: Your enquiry", "Issue with account", "Important", "Hi", "Fwd: question"),
)
#: Subjects that carry the request: {words} are its first words, {topic} a topic found in it.
REQUEST_SUBJECTS = Bank(train=("{words}", "Question about {topic}", "{Topic} issue", "Re: {words}", "{Words}?",
                               "Problem with {topic}"),
                        val=("Query re {topic}", "{Topic} - help needed", "URGENT: {words}", "{Topic}"))
#: Keywords of a request and the topic a subject line names for them (first match wins).
TOPICS = (
    ("apple pay", "Apple Pay"), ("google pay", "Google Pay"), ("top up", "topping up"), ("top-up", "topping up"),
    ("topup", "topping up"), ("refund", "a refund"), ("exchange", "exchange rates"), ("currenc", "currency"),
    ("pin", "my PIN"), ("atm", "cash withdrawal"), ("cash", "cash withdrawal"), ("transfer", "a transfer"),
    ("fee", "a fee"), ("charge", "a charge"), ("verif", "verification"), ("identity", "verification"),
    ("passcode", "my passcode"), ("password", "my password"), ("address", "my address"), ("card", "my card"),
    ("payment", "a payment"), ("account", "my account"),
)
DEFAULT_TOPIC = "my account"

#: Every bank by the part kind it feeds, for tests and for a look at what validation holds back.
PHRASE_BANKS: dict[str, Bank] = {
    "greeting": GREETINGS, "opener": OPENERS, "follow_up": FOLLOW_UPS, "sign_off": SIGN_OFFS,
    "first_name": FIRST_NAMES, "last_name": LAST_NAMES, "name_form": NAME_FORMS, "job_title": JOB_TITLES,
    "company": COMPANIES, "phone": PHONES, "address": ADDRESSES, "mail_name": MAIL_NAMES, "mail_domain": MAIL_DOMAINS,
    "signature_separator": SIGNATURE_SEPARATORS, "signature_layout": SIGNATURE_LAYOUTS,
    "device_footer": DEVICE_FOOTERS, "disclaimer": DISCLAIMERS, "marketing": MARKETING_FOOTERS,
    "bank_name": BANK_NAMES, "support_sender": SUPPORT_SENDERS, "agent_reply": AGENT_REPLIES,
    "customer_earlier": CUSTOMER_EARLIER, "quote_style": QUOTE_STYLES, "html_flavour": HTML_FLAVOURS,
    "generic_subject": GENERIC_SUBJECTS, "request_subject": REQUEST_SUBJECTS,
}

# Names of days and months for quote headers: (day abbreviations Mon-Sun, full days, month abbreviations,
# full months).
CALENDAR: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": (("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
           ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
           ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
           ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
            "November", "December")),
    "de": (("Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."),
           ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
           ("Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez."),
           ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
            "November", "Dezember")),
    "fr": (("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
           ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
           ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."),
           ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
            "novembre", "décembre")),
    "es": (("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
           ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
           ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"),
           ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
            "noviembre", "diciembre")),
}

#: How Gmail, Apple Mail and Outlook mark up a quote in HTML: {header} lines, then {body}.
HTML_GMAIL_QUOTE = ('<div class="gmail_quote"><div dir="ltr" class="gmail_attr">{header}<br></div><blockquote '
                    'class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);'
                    'padding-left:1ex">{body}</blockquote></div>')
HTML_CITE_QUOTE = '<div><br><blockquote type="cite"><div>{header}</div><br>{body}</blockquote></div>'
HTML_OUTLOOK_QUOTE = ('<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
                      '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt">'
                      '{header}</font><div>&nbsp;</div></div><div>{body}</div>')


def quote_header(style: str, sender: str, to: str, subject: str, when: dt.datetime,
                 rng: random.Random) -> tuple[str, ...]:
    """The lines that introduce a quote, as each mail client writes them, in its language."""
    lang = {"german": "de", "outlook_german": "de", "french": "fr", "spanish": "es"}.get(style, "en")
    days, full_days, months, full_months = CALENDAR[lang]
    d, wd, mo, y, hm = when.day, when.weekday(), when.month - 1, when.year, when.strftime("%H:%M")
    ampm = when.strftime("%I:%M %p").lstrip("0")
    name = sender.split(" <")[0]
    single = {
        "gmail": (f"On {days[wd]}, {d} {months[mo]} {y} at {hm}, {sender} wrote:" if rng.random() < 0.5
                  else f"On {days[wd]}, {months[mo]} {d}, {y} at {ampm} {sender} wrote:"),
        "apple": f"On {d} {months[mo]} {y}, at {hm}, {sender} wrote:",
        "thunderbird": f"On {when:%d/%m/%Y} {hm}, {name} wrote:",
        "yahoo": f"On {full_days[wd]}, {d} {full_months[mo]} {y}, {when:%H:%M:%S} GMT, {sender} wrote:",
        "german": f"Am {days[wd]}, {d}. {full_months[mo]} {y} um {hm} Uhr schrieb {sender}:",
        "french": f"Le {days[wd]} {d} {months[mo]} {y} à {hm}, {sender} a écrit :",
        "spanish": f"El {days[wd]}, {d} {months[mo]} {y} a las {hm}, {sender.replace(' <', ' (<')}) escribió:",
    }
    if style in single:
        return (single[style],)
    if style == "forwarded":
        return ("---------- Forwarded message ---------", f"From: {sender}",
                f"Date: {days[wd]}, {d} {months[mo]} {y} at {hm}", f"Subject: {subject}", f"To: {to}")
    if style == "apple_forward":
        return ("Begin forwarded message:", "", f"From: {sender}", f"Subject: {subject}",
                f"Date: {d} {full_months[mo]} {y} at {when:%H:%M:%S} GMT", f"To: {to}")
    if style == "outlook_german":
        lines = [f"Von: {sender}", f"Gesendet: {full_days[wd]}, {d}. {full_months[mo]} {y} {hm}", f"An: {to}",
                 f"Betreff: {subject}"]
        return tuple(["________________________________", *lines] if rng.random() < 0.5 else lines)
    sent = (f"{full_days[wd]}, {full_months[mo]} {d}, {y} {ampm}" if style == "outlook_original"
            else f"{d} {full_months[mo]} {y} {hm}")
    first = "-----Original Message-----" if style == "outlook_original" else "________________________________"
    return (first, f"From: {sender}", f"Sent: {sent}", f"To: {to}", f"Subject: {subject}")
