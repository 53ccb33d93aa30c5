"""The HTML of the built-in signing page, in English and in French, in the dealer's colours.

Every page is one self-contained document: inline CSS, no script, no font or image from
another site (the page's CSP allows only its own images: the agreement's pages and the logo).
Every value written into the HTML is escaped.

Accessibility: one ``h1``, sections with headings, every control labelled, a "skip to signing"
link first in the tab order, then the PDF link, the name field, the consent box and the buttons
in reading order; a thick focus ring on everything focusable; 44 px touch targets; nothing wider
than the screen from 320 px up (the page images scale to the width)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

import attrs

from checkout_core.model.language import Language
from checkout_core.money import Money

#: French spacing: a no-break space keeps ``30 303,55 $`` on one line.
_NBSP = "\u00a0"


@attrs.frozen(kw_only=True)
class Brand:
    """How the page looks like the dealer's: ``CHECKOUT_BRAND_*`` (validated by the settings)."""

    name: str
    color: str = "#1f4e79"
    """``#rrggbb``, dark enough for white text on it."""
    logo_url: str = ""
    """Where the logo is served (empty: no logo, the name alone)."""


TEXTS: Mapping[Language, Mapping[str, str]] = {
    "en": {
        "locale": "en-CA",
        "title": "Sign the purchase agreement {number}",
        "heading": "Purchase agreement",
        "skip": "Skip to signing",
        "order": "Order",
        "vehicle": "Vehicle",
        "total": "Total due",
        "buyer": "Buyer",
        "read": "1. Read the agreement",
        "pages": "The agreement has {count} pages, shown below. You can also download it:",
        "page_one": "The agreement has 1 page, shown below. You can also download it:",
        "no_pages": "Open the agreement to read it before you sign:",
        "pdf": "Download the agreement (PDF)",
        "page_alt": "Page {page} of {count} of the purchase agreement",
        "page_caption": "Page {page} of {count}",
        "sign": "2. Sign",
        "name": "Your full name",
        "name_hint": "Type it exactly as on the agreement: {name}.",
        "consent": "I have read the agreement and I agree to sign it electronically.",
        "sign_button": "Sign the agreement",
        "decline_heading": "Not ready to sign?",
        "decline_text": (
            "If something on the agreement is wrong, decline and ask your advisor for a corrected agreement "
            "or a new link."
        ),
        "decline_button": "Decline",
        "error_heading": "There is a problem",
        "done_title": "Agreement signed",
        "done_heading": "Thank you, you signed the agreement",
        "done_text": (
            "You signed the purchase agreement for order {number}. A signed copy is in your order's documents. "
            "Next step: upload your proof of insurance."
        ),
        "declined_title": "Signing declined",
        "declined_heading": "You declined to sign",
        "declined_text": (
            "The purchase agreement for order {number} was not signed, and this link no longer works. When you "
            "are ready, ask for a new signing link from your order (or contact your advisor if something on the "
            "agreement needs correcting)."
        ),
        "link_title": "Signing link",
        "footer": "Signing page of {dealer}",
    },
    "fr": {
        "locale": "fr-CA",
        "title": "Signer le contrat d'achat {number}",
        "heading": "Contrat d'achat",
        "skip": "Aller à la signature",
        "order": "Commande",
        "vehicle": "Véhicule",
        "total": "Total à payer",
        "buyer": "Acheteur",
        "read": "1. Lisez le contrat",
        "pages": "Le contrat compte {count} pages, reproduites ci-dessous. Vous pouvez aussi le télécharger :",
        "page_one": "Le contrat compte 1 page, reproduite ci-dessous. Vous pouvez aussi le télécharger :",
        "no_pages": "Ouvrez le contrat pour le lire avant de signer :",
        "pdf": "Télécharger le contrat (PDF)",
        "page_alt": "Page {page} sur {count} du contrat d'achat",
        "page_caption": "Page {page} sur {count}",
        "sign": "2. Signez",
        "name": "Votre nom complet",
        "name_hint": "Tapez-le exactement comme au contrat : {name}.",
        "consent": "J'ai lu le contrat et j'accepte de le signer électroniquement.",
        "sign_button": "Signer le contrat",
        "decline_heading": "Pas prêt à signer?",
        "decline_text": (
            "Si une information du contrat est inexacte, refusez et demandez à votre conseiller un contrat "
            "corrigé ou un nouveau lien."
        ),
        "decline_button": "Refuser",
        "error_heading": "Un problème est survenu",
        "done_title": "Contrat signé",
        "done_heading": "Merci, vous avez signé le contrat",
        "done_text": (
            "Vous avez signé le contrat d'achat de la commande {number}. Une copie signée se trouve dans les "
            "documents de votre commande. Prochaine étape : téléverser votre preuve d'assurance."
        ),
        "declined_title": "Signature refusée",
        "declined_heading": "Vous avez refusé de signer",
        "declined_text": (
            "Le contrat d'achat de la commande {number} n'a pas été signé, et ce lien ne fonctionne plus. Lorsque "
            "vous serez prêt, demandez un nouveau lien de signature depuis votre commande (ou communiquez avec "
            "votre conseiller si le contrat doit être corrigé)."
        ),
        "link_title": "Lien de signature",
        "footer": "Page de signature de {dealer}",
    },
}

#: The French of the messages the core and this page give for a link that cannot be used or a
#: form that was not filled in (the core speaks English; the page speaks the buyer's language).
MESSAGES_FR: Mapping[str, str] = {
    "signing link not found": "Ce lien de signature est introuvable. Vérifiez le lien reçu ou demandez-en un nouveau.",
    "this signing link has expired; ask for a new one": (
        "Ce lien de signature a expiré. Demandez-en un nouveau depuis votre commande."
    ),
    "this agreement is already signed": "Ce contrat est déjà signé : ce lien ne peut plus servir.",
    "signing was declined on this link; ask for a new signing link": (
        "La signature a été refusée avec ce lien. Demandez un nouveau lien de signature."
    ),
    "the order has no purchase agreement": "La commande n'a pas de contrat d'achat à signer.",
    "consent to sign electronically is required": "Cochez la case pour accepter de signer électroniquement.",
    "type your full name exactly as it appears on the agreement": (
        "Tapez votre nom complet exactement comme il figure au contrat."
    ),
    "This form can only be submitted from its own signing page. Reload it and try again.": (
        "Ce formulaire ne peut être envoyé que depuis sa propre page de signature. Rechargez-la et réessayez."
    ),
}

#: What a clear page says first about a link that cannot be used, by the core's message.
LINK_HINTS: Mapping[str, tuple[str, str]] = {
    "signing link not found": ("Signing link not found", "Lien de signature introuvable"),
    "this signing link has expired; ask for a new one": ("This signing link has expired", "Ce lien a expiré"),
    "this agreement is already signed": ("This agreement is already signed", "Ce contrat est déjà signé"),
    "signing was declined on this link; ask for a new signing link": (
        "Signing was declined on this link",
        "La signature a été refusée",
    ),
}


#: The core's terse messages about a link, said in full to a buyer.
MESSAGES_EN: Mapping[str, str] = {
    "signing link not found": (
        "This signing link is not valid. Check the link you received, or ask for a new one from your order."
    ),
    "this signing link has expired; ask for a new one": (
        "This signing link has expired; ask for a new one from your order."
    ),
    "this agreement is already signed": "This agreement is already signed: this link cannot be used again.",
}


def message(language: Language, text: str) -> str:
    """The core's (English) message for a buyer, in ``language``."""
    return MESSAGES_FR.get(text, text) if language == "fr" else MESSAGES_EN.get(text, text)


def money(language: Language, amount: Money) -> str:
    """``$30,303.55`` / ``30 303,55 $``."""
    if language == "en":
        return amount.format()
    sign = "-" if amount.cents < 0 else ""
    dollars, cents = divmod(abs(amount.cents), 100)
    return f"{sign}{dollars:,}".replace(",", _NBSP) + f",{cents:02d}{_NBSP}$"


_CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:#1b1b1b;background:#f3f4f6}
.skip{position:absolute;left:.5rem;top:-4rem;background:#fff;color:#1b1b1b;padding:.6rem 1rem;border-radius:6px;
z-index:2;font-weight:600}
.skip:focus{top:.5rem}
header.brand{background:var(--brand);color:#fff;padding:.75rem 1rem}
header.brand .inner{max-width:56rem;margin:0 auto;display:flex;align-items:center;gap:.75rem;min-height:2.75rem}
header.brand img{height:2.75rem;width:auto;max-width:10rem;object-fit:contain;background:#fff;border-radius:6px;
padding:.2rem}
header.brand .dealer{font-weight:700;font-size:1.15rem;overflow-wrap:anywhere}
main{max-width:56rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:0 0 .75rem}
.card{background:#fff;border:1px solid #d5d9e0;border-radius:10px;padding:1rem 1.25rem;margin:0 0 1rem}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.3rem 1rem;margin:0}
dl.facts dt{color:#4a4f57}
dl.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
a{color:var(--brand);font-weight:600}
a.pdf{display:inline-block;padding:.6rem 0;min-height:44px}
ol.pages{list-style:none;margin:.5rem 0 0;padding:0;display:grid;gap:1.25rem}
ol.pages figure{margin:0}
ol.pages img{display:block;width:100%;height:auto;aspect-ratio:auto 8.5/11;background:#fff;border:1px solid #c4c9d1;
box-shadow:0 1px 4px rgba(0,0,0,.15)}
ol.pages figcaption{color:#4a4f57;font-size:.875rem;text-align:center;margin-top:.35rem}
label.field{display:block;font-weight:700;margin:0 0 .25rem}
.hint{color:#4a4f57;font-size:.9rem;margin:0 0 .5rem;overflow-wrap:anywhere}
input[type=text]{display:block;width:100%;max-width:30rem;font:inherit;font-size:1.1rem;padding:.65rem .75rem;
border:2px solid #6b7280;border-radius:6px;background:#fff;color:#1b1b1b}
.consent{display:flex;gap:.75rem;align-items:flex-start;margin:1rem 0;font-weight:600;cursor:pointer}
.consent input{flex:none;width:1.5rem;height:1.5rem;margin:.05rem 0 0;accent-color:var(--brand)}
button{font:inherit;font-weight:700;border-radius:6px;padding:.7rem 1.5rem;min-height:48px;cursor:pointer}
button.primary{background:var(--brand);color:#fff;border:2px solid var(--brand)}
button.secondary{background:#fff;color:#1b1b1b;border:2px solid #6b7280}
:focus-visible{outline:3px solid #1b1b1b;outline-offset:2px;box-shadow:0 0 0 6px #ffd24d}
header.brand :focus-visible{outline-color:#fff}
.alert{border-left:6px solid #b3261e;background:#fdecea;color:#6b0f0a;padding:.75rem 1rem;border-radius:6px;
font-weight:600;margin:0 0 1rem}
.success{border-left:6px solid #1e7b34;background:#e7f5ea;padding:.75rem 1rem;border-radius:6px}
footer{max-width:56rem;margin:0 auto;padding:0 1rem 2rem;color:#4a4f57;font-size:.875rem}
@media (max-width:40rem){
main{padding:.75rem}
h1{font-size:1.35rem}
.card{padding:.85rem}
dl.facts{grid-template-columns:minmax(0,1fr)}
dl.facts dd{margin-bottom:.35rem}
button{width:100%}
}
"""


def document(language: Language, brand: Brand, title: str, body: str, *, skip_to: str = "") -> str:
    """A whole page: the dealer's header, ``body`` (already escaped HTML) in ``main``, a footer."""
    texts = TEXTS[language]
    logo = f'<img src="{escape(brand.logo_url)}" alt="">' if brand.logo_url else ""
    skip = f'<a class="skip" href="#{escape(skip_to)}">{escape(texts["skip"])}</a>' if skip_to else ""
    return (
        f'<!doctype html>\n<html lang="{escape(texts["locale"])}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)} · {escape(brand.name)}</title>"
        # The colour was validated as #rrggbb by the settings: nothing else can reach the CSS.
        f"<style>:root{{--brand:{brand.color}}}{_CSS}</style></head><body>"
        f'{skip}<header class="brand"><div class="inner">{logo}'
        f'<span class="dealer">{escape(brand.name)}</span></div></header>'
        f'<main id="main">{body}</main>'
        f"<footer>{escape(texts['footer'].format(dealer=brand.name))}</footer></body></html>"
    )


@attrs.frozen(kw_only=True)
class SignPageContent:
    """What the signing page shows of the order."""

    order_number: str
    vehicle: str
    total: Money
    buyer_name: str
    page_path: str
    """``/sign/{order}/{envelope}``, quoted: the form's action, the PDF's and images' base."""
    csrf_token: str
    page_count: int
    error: str = ""


def sign_page(language: Language, brand: Brand, content: SignPageContent) -> str:
    """The agreement (its pages as images, the PDF link), the name field, consent and the buttons."""
    t = TEXTS[language]
    page = content.page_path
    pdf = f"{page}/agreement.pdf"
    count = content.page_count
    if count == 0:
        intro = t["no_pages"]
    elif count == 1:
        intro = t["page_one"]
    else:
        intro = t["pages"].format(count=count)
    pages = "".join(
        f'<li><figure><img src="{escape(page)}/pages/{n}" '
        f'alt="{escape(t["page_alt"].format(page=n, count=count))}"{"" if n == 1 else " loading=lazy"}>'
        f"<figcaption>{escape(t['page_caption'].format(page=n, count=count))}</figcaption></figure></li>"
        for n in range(1, count + 1)
    )
    error = (
        f'<p class="alert" role="alert" id="form-error">{escape(message(language, content.error))}</p>'
        if content.error
        else ""
    )
    described = "name-hint form-error" if content.error else "name-hint"
    token = f'<input type="hidden" name="csrfToken" value="{escape(content.csrf_token)}">'
    body = (
        f"<h1>{escape(t['heading'])}</h1>"
        '<section class="card" aria-label="' + escape(t["heading"]) + '"><dl class="facts">'
        f"<dt>{escape(t['order'])}</dt><dd>{escape(content.order_number)}</dd>"
        f"<dt>{escape(t['vehicle'])}</dt><dd>{escape(content.vehicle)}</dd>"
        f"<dt>{escape(t['total'])}</dt><dd>{escape(money(language, content.total))}</dd>"
        f"<dt>{escape(t['buyer'])}</dt><dd>{escape(content.buyer_name)}</dd></dl></section>"
        '<section class="card" aria-labelledby="read-heading" id="agreement">'
        f'<h2 id="read-heading">{escape(t["read"])}</h2><p>{escape(intro)} '
        f'<a class="pdf" href="{escape(pdf)}" type="application/pdf">{escape(t["pdf"])}</a></p>'
        f"{f'<ol class=pages>{pages}</ol>' if pages else ''}</section>"
        '<section class="card" aria-labelledby="sign-heading" id="sign">'
        f'<h2 id="sign-heading">{escape(t["sign"])}</h2>{error}'
        f'<form method="post" action="{escape(page)}" id="sign-form">{token}'
        f'<label class="field" for="typed-name">{escape(t["name"])}</label>'
        f'<p class="hint" id="name-hint">{escape(t["name_hint"].format(name=content.buyer_name))}</p>'
        f'<input type="text" id="typed-name" name="typedName" autocomplete="name" maxlength="200" required '
        f'aria-describedby="{described}"{" aria-invalid=true" if content.error else ""}>'
        f'<label class="consent"><input type="checkbox" id="consent" name="consent" value="yes" required>'
        f"<span>{escape(t['consent'])}</span></label>"
        f'<button type="submit" class="primary" id="sign-button">{escape(t["sign_button"])}</button></form></section>'
        '<section class="card" aria-labelledby="decline-heading">'
        f'<h2 id="decline-heading">{escape(t["decline_heading"])}</h2><p>{escape(t["decline_text"])}</p>'
        f'<form method="post" action="{escape(page)}/decline" id="decline-form">{token}'
        f'<button type="submit" class="secondary" id="decline-button">{escape(t["decline_button"])}</button>'
        "</form></section>"
    )
    return document(language, brand, t["title"].format(number=content.order_number), body, skip_to="sign")


def done_page(language: Language, brand: Brand, order_number: str) -> str:
    """After signing."""
    t = TEXTS[language]
    body = (
        f'<h1 id="done">{escape(t["done_heading"])}</h1>'
        f'<div class="card success" role="status"><p>{escape(t["done_text"].format(number=order_number))}</p></div>'
    )
    return document(language, brand, t["done_title"], body)


def declined_page(language: Language, brand: Brand, order_number: str) -> str:
    """After declining."""
    t = TEXTS[language]
    body = (
        f'<h1 id="declined">{escape(t["declined_heading"])}</h1>'
        f'<div class="card" role="status"><p>{escape(t["declined_text"].format(number=order_number))}</p></div>'
    )
    return document(language, brand, t["declined_title"], body)


def error_page(language: Language | None, brand: Brand, text: str) -> str:
    """A link that cannot be used (unknown, expired, used, declined) or a refused form: what
    happened and what to do. Without the buyer's language (an unknown link), in both."""
    languages: tuple[Language, ...] = (language,) if language else ("en", "fr")
    parts = []
    for lang in languages:
        hints = LINK_HINTS.get(text)
        heading = hints[0 if lang == "en" else 1] if hints else TEXTS[lang]["error_heading"]
        parts.append(
            f'<section lang="{TEXTS[lang]["locale"]}"><h1 class="error-heading">{escape(heading)}</h1>'
            f'<p class="alert" role="alert">{escape(message(lang, text))}</p></section>'
        )
    return document(languages[0], brand, TEXTS[languages[0]]["link_title"], "".join(parts))
