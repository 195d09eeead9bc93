"""Swedish questions the simulated users ask, and the follow-ups they send.

Varied on purpose: different topics, lengths and phrasings, so that answers differ in
length as real traffic does and no single prompt dominates. A few carry made-up
personal data (a phone number, an e-mail address), as users' messages do, so the PII
masking path is exercised under load too. Every number and address here is invented.
"""

from __future__ import annotations

import random

__all__ = ["FOLLOW_UPS", "QUESTIONS", "pick_follow_up", "pick_question"]

QUESTIONS: tuple[str, ...] = (
    "Vad är huvudstaden i Norge?",
    "Hur lagar man svenska köttbullar?",
    "Vad betyder ordet lagom?",
    "Berätta kort om Astrid Lindgren.",
    "Varför är himlen blå?",
    "Hur långt är det från jorden till månen?",
    "Hur fungerar en värmepump?",
    "Vilka är de vanligaste svampsorterna i svenska skogar?",
    "Vad ska jag tänka på när jag köper en begagnad bil?",
    "Kan du förklara vad inflation är?",
    "Ge mig tre tips för att sova bättre.",
    "Hur många invånare har Göteborg?",
    "Vad är skillnaden mellan ett virus och en bakterie?",
    "Vilket år blev Sverige medlem i EU?",
    "Hur gör man en enkel surdeg?",
    "Vad är midsommar och hur firas den?",
    "Skriv ett kort recept på pannkakor.",
    "Hur byter jag däck på en bil?",
    "Vad är allemansrätten?",
    "Vilka planeter finns i vårt solsystem?",
    "Hur kan jag spara mer el hemma under vintern?",
    "Vad är fotosyntes?",
    "Rekommendera en bok för någon som gillar deckare.",
    "Hur skriver man ett bra personligt brev?",
    "Vad är skillnaden mellan väder och klimat?",
    "Varför har vi skottår?",
    "Hur tar man hand om en krukväxt som tappar blad?",
    "Vad betyder fika?",
    "Hur fungerar röstning i svenska riksdagsval?",
    "Kan du förklara vad en algoritm är med ett enkelt exempel?",
    "Vilka djur går i ide på vintern?",
    "Hur kokar man ett perfekt ägg?",
    "Vad är norrsken och var kan man se det?",
    "Ge mig ett förslag på en vandringsled i fjällen.",
    "Hur länge ska man vila efter en förkylning innan man tränar?",
    "Vad är skillnaden mellan ränta och amortering?",
    "Hur lär man sig ett nytt språk snabbast?",
    "Vilken är Sveriges längsta flod?",
    "Vad gör en undersköterska?",
    "Hur planterar jag potatis i min trädgård?",
    "Skriv en kort dikt om hösten.",
    "Vad är ett bra sätt att börja springa för en nybörjare?",
    "Hur fungerar solceller?",
    "Vad ska man packa inför en weekend i Stockholm?",
    "Förklara skillnaden mellan TCP och UDP.",
    "Hur räknar man ut procent av ett tal?",
    "Vad heter Sveriges kung?",
    "Vilka är fördelarna med att cykla till jobbet?",
    "Hur gör jag en budget för hushållet?",
    "Vad är en kanelbulle och när firas kanelbullens dag?",
    "Jag har glömt mitt lösenord till banken, vad ska jag göra?",
    "Mitt telefonnummer är 070-123 45 67. Kan du påminna mig om att ringa tandläkaren?",
    "Skicka gärna svaret till anna.exempel@example.com: hur bokar jag en tvättid?",
    "Min dotter ska börja skolan i höst. Hur kan vi förbereda henne?",
    "Vi ska flytta från Malmö till Umeå. Vad behöver vi tänka på när det gäller "
    "klimatet, bostad och jobb?",
    "Jag vill börja odla grönsaker på balkongen men har bara morgonsol. Vilka grönsaker "
    "passar, och hur ofta ska jag vattna dem?",
    "Kan du sammanfatta vad som hände under stormaktstiden i Sverige i några meningar?",
    "Översätt till engelska: Jag skulle vilja boka ett bord för fyra personer i kväll.",
    "Vad är skillnaden mellan en hybridbil och en elbil när det gäller räckvidd och kostnad?",
    "Hur fungerar pantsystemet för burkar och flaskor?",
)

FOLLOW_UPS: tuple[str, ...] = (
    "Kan du ge ett exempel?",
    "Kan du förklara det enklare?",
    "Hur lång tid tar det ungefär?",
    "Finns det något jag bör undvika?",
    "Tack! Kan du sammanfatta det i en mening?",
    "Vad kostar det ungefär?",
    "Varför är det så?",
    "Kan du säga mer om det?",
    "Stämmer det verkligen?",
    "Vad skulle du rekommendera för en nybörjare?",
    "Kan du skriva det som en punktlista?",
    "Och hur är det på vintern?",
)


def pick_question(rng: random.Random) -> str:
    """A question that starts a new conversation."""
    return rng.choice(QUESTIONS)


def pick_follow_up(rng: random.Random) -> str:
    """A follow-up for an ongoing conversation."""
    return rng.choice(FOLLOW_UPS)
