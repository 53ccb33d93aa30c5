"""Le contrat en français (Québec; montants ``24 999,00 $``, dates ``23 décembre 2025``).

Required for a buyer in Quebec: the Charter of the French language makes a contract of adhesion
(the dealer's standard agreement is one) French first; an English version may follow it."""

from __future__ import annotations

from adapters.documents.agreement_text.catalogue import Catalogue

STRINGS: dict[str, str] = {
    # document
    "title": "Contrat d'achat de véhicule {number}",
    "continued": "Contrat d'achat de véhicule {number} (suite)",
    "subject": "Contrat de vente : {vehicle}, NIV {vin}",
    "keywords": "contrat d'achat, contrat de vente, {number}",
    "footer_dealer": "{dealer} · Permis de commerçant {registration}",
    "footer_page": "Contrat {number} · Page {page} de {pages}",
    "version_note": "",
    "not_stated": "Non précisé",
    "yes": "Oui",
    "no": "Non",
    # header
    "heading": "CONTRAT D'ACHAT DE VÉHICULE",
    "subheading": "Contrat de vente — véhicule d'occasion",
    "agreement_no": "Contrat n° {number}",
    "date_of_sale": "Date de la vente : {date}",
    "dealer_registration_no": "Permis de commerçant n° {registration}",
    "gst_no": "N° d'inscription TPS/TVH {number}",
    "qst_no": "N° d'inscription TVQ {number}",
    # parties
    "buyer_box": "ACHETEUR",
    "dealer_box": "COMMERÇANT (VENDEUR)",
    "phone": "Téléphone : {phone}",
    "email": "Courriel : {email}",
    "registration_no": "Permis n° : {registration}",
    "sales_advisor": "Conseiller aux ventes : {name}",
    # vehicle
    "vehicle": "Véhicule",
    "year": "Année",
    "make": "Marque",
    "model": "Modèle",
    "trim": "Version",
    "body_type": "Carrosserie",
    "colour": "Couleur",
    "vin": "NIV",
    "odometer": "Odomètre",
    "odometer_value": "{km} km (selon l'odomètre)",
    "stock_no": "N° de stock",
    "condition": "État",
    "used": "Occasion",
    "safety_heading": "Normes de sécurité",
    "certified": (
        "Ce véhicule est vendu avec un certificat de sécurité ({certificate}) délivré pour lui par un centre "
        "d'inspection autorisé."
    ),
    "as_is": (
        "Ce véhicule est vendu « tel quel » : il n'est pas garanti en état de rouler, en bon état mécanique ni "
        "entretenu selon un niveau de qualité garanti. Il peut ne pas convenir comme moyen de transport et exiger "
        "des réparations importantes aux frais de l'acheteur. Il peut être impossible de l'immatriculer pour la "
        "circulation dans son état actuel."
    ),
    "warranty_heading": "Garantie",
    "warranty_none": "Aucune garantie n'accompagne ce véhicule, ni du commerçant ni du fabricant.",
    "warranty_manufacturer": "Le reste de la garantie du fabricant s'applique{detail}.",
    "warranty_extended": "Une garantie prolongée est incluse{detail}.",
    # disclosures
    "disclosures_heading": "Antécédents du véhicule",
    "disclosures_intro": (
        "Le commerçant répond à chaque catégorie ci-dessous selon ce qu'il sait des antécédents du véhicule ; un "
        "« Non » est sa déclaration que la catégorie ne s'applique pas."
    ),
    "disclosure.daily_rental": "Utilisé auparavant comme véhicule de location à court terme",
    "disclosure.police": "Utilisé auparavant comme véhicule de police",
    "disclosure.taxi_limousine": "Utilisé auparavant comme taxi ou limousine",
    "disclosure.emergency": "Utilisé auparavant comme véhicule d'urgence",
    "disclosure.fire_damage": "Endommagé par un incendie",
    "disclosure.flood_damage": "Endommagé par une inondation (immergé dans un liquide)",
    "disclosure.odometer": ("Odomètre non fiable, remplacé ou reculé (la distance réelle peut être plus élevée)"),
    "disclosure.manufacturer_warranty_cancelled": "Garantie du fabricant annulée",
    "disclosure.branded": "Déclaré irréparable, récupérable ou reconstruit",
    "disclosure.accident_damage": "Dommages d'accident de plus de 3 000 $ (coût total des réparations)",
    "disclosure.out_of_province": ("Immatriculé auparavant hors de la province (autre province ou États-Unis)"),
    "disclosure.total_loss": "Déclaré perte totale par un assureur",
    "disclosure.structural_alteration": "Modifications de la structure, de la carrosserie ou du châssis d'origine",
    "disclosure.inoperative_safety_system": "Freins antiblocage ou coussins gonflables hors d'usage",
    "disclosure.other": "Tout autre fait important",
    "no_other_material_fact": "Le commerçant ne connaît aucun autre fait important concernant ce véhicule.",
    # price
    "price_heading": "Prix d'achat",
    "vehicle_price": "Prix du véhicule",
    "trade_in_credit": "Crédit de reprise",
    "admin_fee": "Frais d'administration",
    "documentation_fee": "Frais de documentation",
    "subtotal": "Sous-total (montant taxable)",
    "tax_line": "{kind} {rate} sur {amount}",
    "tax_total": "Total des taxes de vente ({rate})",
    "licence_fee": "Frais d'immatriculation et de plaque (non taxables)",
    "total_price": "Prix d'achat total",
    "rates_in_force": ("Taxes de vente calculées aux taux en vigueur le {date} pour un acheteur résidant {province}."),
    "trade_in_reduces": " Le crédit de reprise réduit le montant taxable.",
    "tax_numbers": " N° TPS/TVH du commerçant : {gst}.",
    "tax_numbers_qst": " N° TPS/TVH du commerçant : {gst} ; n° TVQ : {qst}.",
    # trade-in
    "trade_in_heading": "Véhicule d'échange",
    "no_trade_in": "Aucun véhicule d'échange ne fait partie de ce contrat.",
    "trade_in_vehicle": "Véhicule",
    "credit_applied": "Crédit appliqué",
    "appraisal_ref": "Réf. d'évaluation",
    "trade_in_statement": (
        "L'acheteur déclare être propriétaire du véhicule d'échange, que celui-ci est tel que décrit dans "
        "l'évaluation et que toute sûreté qui le grève a été déclarée au commerçant ; le crédit est appliqué à la "
        "remise du véhicule."
    ),
    # payment
    "payment_heading": "Paiement",
    "deposit_received": "Dépôt reçu",
    "down_payment": "Mise de fonds",
    "down_payment_financed": "Mise de fonds (payable avant la livraison)",
    "balance_financed": "Solde à payer — financé par {lender}",
    "balance_cash": "Solde à payer — payable avant la livraison",
    "the_lender": "le prêteur",
    "financed_note": "Le solde est versé au commerçant par le prêteur ; voir la divulgation du financement.",
    "cash_note": "Mode de paiement : achat comptant (virement bancaire ou carte) ; aucun financement.",
    # financing
    "financing_heading": "Divulgation du financement",
    "lender": "Prêteur",
    "amount_financed": "Montant financé",
    "apr": "Taux annuel (TAC)",
    "term": "Durée",
    "term_value": "{months} mois ({months} versements mensuels)",
    "monthly_payment": "Versement mensuel",
    "total_of_payments": "Total des versements",
    "cost_of_borrowing": "Coût d'emprunt",
    "terms_label": "Modalités",
    "lender_terms": "Selon le contrat de crédit du prêteur",
    "financing_note": (
        "Le coût d'emprunt est le total des versements moins le montant financé, l'intérêt étant composé "
        "mensuellement, sans autres frais. Le prêt est consenti par le prêteur selon son propre contrat de crédit "
        "avec l'acheteur, qui régit le prêt s'il diffère de ce résumé."
    ),
    # delivery
    "delivery_heading": "Livraison",
    "method": "Mode",
    "home_delivery": "Livraison à domicile",
    "pickup": "Cueillette par l'acheteur",
    "deliver_to": "Livrer à",
    "pickup_at": "Cueillette à",
    "delivery_date": "Date de livraison",
    "to_be_confirmed": "À confirmer avec l'acheteur",
    "pickup_location": "Le point de cueillette du commerçant, tel que confirmé",
    "scheduled": "{date}{window} (prévue)",
    "requested": "{date} (demandée ; à confirmer par le commerçant)",
    "to_be_scheduled": "À planifier avec l'acheteur",
    # terms
    "terms_heading": "Conditions",
    "term.deposit": "Dépôt",
    "term.deposit.body": "Le dépôt remboursable de {deposit} reçu avec la réservation est porté au prix d'achat.",
    "term.payment": "Paiement et livraison",
    "term.payment.body": (
        "Le véhicule n'est livré ou remis qu'une fois le solde payé (ou le financement versé) et la preuve "
        "d'assurance valide du véhicule fournie par l'acheteur."
    ),
    "term.cancellation": "Annulation avant la livraison",
    "term.cancellation.body": (
        "Tant que le véhicule n'est pas expédié pour livraison ou remis, l'acheteur peut annuler ce contrat ; tout ce "
        "qui a été payé en vertu de celui-ci, dépôt compris, est alors remboursé."
    ),
    "term.return": "Politique de retour de {days}\u00a0jours",
    "term.return.body": (
        "L'acheteur peut retourner le véhicule dans les {days}\u00a0jours suivant le jour de la livraison, dans "
        "l'état où il a été livré, contre le remboursement des sommes payées en vertu de ce contrat."
    ),
    "term.final": "Quand la vente devient définitive",
    "term.final.body.return": (
        "La vente devient définitive à la fin de la période de retour de {days}\u00a0jours de la clause {clause} ; "
        "avant la livraison, la clause {cancel} s'applique."
    ),
    "term.final.body": (
        "La vente devient définitive à la livraison ou à la remise du véhicule ; avant, la clause {cancel} s'applique."
    ),
    "term.taxes": "Taxes et frais",
    "term.taxes.body": (
        "Chaque frais et chaque taxe de vente est détaillé ci-dessus ; aucuns autres frais ne sont payables au "
        "commerçant en vertu de ce contrat."
    ),
    "term.esign": "Signature électronique",
    "term.esign.body": (
        "Les parties conviennent que ce contrat peut être signé électroniquement et qu'une signature électronique a "
        "le même effet qu'une signature manuscrite (Loi concernant le cadre juridique des technologies de "
        "l'information, Québec). La copie signée indique qui a signé, quand et d'où, et porte le sceau numérique du "
        "commerçant. Le contrat est conclu une fois signé par l'acheteur et par le commerçant."
    ),
    "term.registration": "Permis du commerçant",
    "term.registration.body": (
        "{dealer} est un commerçant de véhicules automobiles titulaire du permis n° {registration}."
    ),
    "term.entire": "Intégralité du contrat",
    "term.entire.body": (
        "Ce document constitue l'intégralité du contrat entre l'acheteur et le commerçant pour la vente du véhicule "
        "et est régi par les lois applicables au Québec, dont la Loi sur la protection du consommateur."
    ),
    # provinces (with the preposition French puts before each: "au Québec", "en Ontario") and taxes
    "province.AB": "en Alberta",
    "province.BC": "en Colombie-Britannique",
    "province.MB": "au Manitoba",
    "province.NB": "au Nouveau-Brunswick",
    "province.NL": "à Terre-Neuve-et-Labrador",
    "province.NS": "en Nouvelle-Écosse",
    "province.NT": "dans les Territoires du Nord-Ouest",
    "province.NU": "au Nunavut",
    "province.ON": "en Ontario",
    "province.PE": "à l'Île-du-Prince-Édouard",
    "province.QC": "au Québec",
    "province.SK": "en Saskatchewan",
    "province.YT": "au Yukon",
    "tax.GST": "TPS",
    "tax.HST": "TVH",
    "tax.PST": "TVP",
    "tax.QST": "TVQ",
    "tax.RST": "TVD",
    # signatures
    "signatures_heading": "Signatures",
    "sales_final.return": (
        "Une fois le véhicule livré, la vente est définitive, sous la seule réserve de la politique de retour de "
        "{days}\u00a0jours (clause {clause}) ; avant la livraison, l'acheteur peut annuler (clause {cancel})."
    ),
    "sales_final": (
        "Une fois le véhicule livré, la vente est définitive ; avant la livraison, l'acheteur peut annuler "
        "(clause {cancel})."
    ),
    "buyer_label": "ACHETEUR",
    "dealer_label": "COMMERÇANT",
    "buyer_signature": "Signature de l'acheteur",
    "name": "Nom : {name}",
    "date": "Date :",
    "for_dealer": "Pour {dealer}",
    "dealer_registration_line": "Permis n° {registration}",
    "dealer_signature": "Signature du représentant autorisé",
    "name_and_title": "Nom et titre :",
    "signature_note": (
        "Lorsque ce contrat est signé électroniquement, chaque signature, avec sa date et son heure, est imprimée sur "
        "sa ligne ci-dessus, un relevé de signature (signataires, heures, adresses IP, appareils et empreinte SHA-256 "
        "de ces pages) est ajouté en dernière page, et le sceau numérique du commerçant est apposé sur tout le "
        "document."
    ),
}

CATALOGUE = Catalogue(
    language="fr",
    locale="fr-CA",
    months=(
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    strings=STRINGS,
    thousands="\u00a0",
    decimal_point=",",
    currency_after=True,
    first_of_month="1er",
)
